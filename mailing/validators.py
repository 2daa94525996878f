import unicodedata
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

# Control characters (CR, LF, NUL, tab, ESC, NEL…) and the Unicode line and paragraph
# separators: any of them in a header value can end the header line or corrupt it.
_NOT_SINGLE_LINE = {"Cc", "Zl", "Zp"}


def _refuse_control_characters(value: str, message: "str | _StrPromise") -> None:
    if any(unicodedata.category(char) in _NOT_SINGLE_LINE for char in value):
        raise ValidationError(message, code="header_injection")


def validate_single_line(value: str) -> None:
    """Refuse line breaks and control characters in a message subject (header injection)."""
    _refuse_control_characters(value, _("The subject must be a single line of plain text."))


def validate_name(value: str) -> None:
    """Refuse line breaks and control characters in a recipient's name, which goes into the
    To header of every mail sent to them (header injection)."""
    _refuse_control_characters(value, _("The name must be a single line of plain text."))
