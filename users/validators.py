from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator, RegexValidator
from django.template.defaultfilters import filesizeformat

AVATAR_EXTENSIONS = ["jpg", "jpeg", "png", "gif", "webp"]

validate_avatar_extension = FileExtensionValidator(AVATAR_EXTENSIONS)

validate_phone = RegexValidator(
    r"^\+?[0-9][0-9 ()\-]{5,18}[0-9]$",
    "Enter a phone number of digits, spaces, brackets or dashes, like +44 20 7946 0958.",
)


def validate_avatar_size(file) -> None:
    if getattr(file, "_committed", False):
        # Already stored: it passed the limit of its day. Re-checking would lock people out of
        # their profile when the limit is lowered, or crash when the file has gone missing.
        return
    if file.size > settings.AVATAR_MAX_BYTES:
        raise ValidationError(
            "The image is %(size)s; the largest allowed is %(limit)s.",
            params={
                "size": filesizeformat(file.size),
                "limit": filesizeformat(settings.AVATAR_MAX_BYTES),
            },
            code="file_too_large",
        )
