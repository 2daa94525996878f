import unicodedata
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
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


# What may not appear in the part of an address before "@" even with SMTPUTF8: whitespace,
# controls, and the characters that delimit addresses in SMTP commands and headers.
_LOCAL_PART_FORBIDDEN = set(' \t"(),:;<>@[\\]')


def validate_recipient_email(value: str) -> None:
    """An address the delivery engine can send to, with a reason it understands when not.

    A domain in Unicode is fine: it is sent in its IDNA (punycode) form, and refused here only
    when it has none. A part before "@" outside ASCII needs the relay to offer SMTPUTF8, which
    the site cannot know when the address is entered: such addresses are accepted only when
    the operator says the relay takes them (MAILING_SMTPUTF8=true), and refused otherwise,
    rather than accepted and then failed at every send."""
    local, at, domain = value.rpartition("@")
    if at and domain and not domain.isascii():
        try:
            domain.encode("idna")
        except UnicodeError:
            raise ValidationError(
                _("The domain “%(domain)s” has no international (IDNA) form; check it for typos."),
                code="idna",
                params={"domain": domain},
            ) from None
    if at and local and not local.isascii():
        if not settings.MAILING_SMTPUTF8:
            raise ValidationError(
                _(
                    "The part before “@” has characters other than plain ASCII letters. The "
                    "mail relay of this site is not set up to deliver to such addresses "
                    "(SMTPUTF8), so every send to it would fail."
                ),
                code="smtputf8",
            )
        if any(char in _LOCAL_PART_FORBIDDEN or not char.isprintable() for char in local):
            raise ValidationError(_("Enter a valid email address."), code="invalid")
        validate_email(f"user@{domain}")  # the domain as for any other address
        return
    validate_email(value)
