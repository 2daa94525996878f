import functools
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator, RegexValidator
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from PIL import Image, UnidentifiedImageError

AVATAR_EXTENSIONS = ["jpg", "jpeg", "png", "gif", "webp"]
# What an avatar really is once decoded (Pillow's names), whatever its file is called, and the
# matching types for the file input's accept=.
AVATAR_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
# Pixels a side: a few kilobytes can declare a huge picture, which every page showing the
# avatar would make browsers decode.
AVATAR_MAX_SIDE = 4096

validate_avatar_extension = FileExtensionValidator(AVATAR_EXTENSIONS)

validate_phone = RegexValidator(
    r"^\+?[0-9][0-9 ()\-]{5,18}[0-9]$",
    _("Enter a phone number of digits, spaces, brackets or dashes, like +44 20 7946 0958."),
)


def validate_avatar_size(file) -> None:
    if getattr(file, "_committed", False):
        # Already stored: it passed the limit of its day. Re-checking would lock people out of
        # their profile when the limit is lowered, or crash when the file has gone missing.
        return
    if file.size > settings.AVATAR_MAX_BYTES:
        raise ValidationError(
            _("The image is %(size)s; the largest allowed is %(limit)s."),
            params={
                "size": filesizeformat(file.size),
                "limit": filesizeformat(settings.AVATAR_MAX_BYTES),
            },
            code="file_too_large",
        )


def validate_avatar_image(file) -> None:
    """The upload, decoded, is a JPEG, PNG, GIF or WebP of at most AVATAR_MAX_SIDE pixels a
    side. The extension proves nothing (a BMP named .png), nor does "Pillow can open it" (it
    opens TIFF and BMP too). Only the header is read, never the pixels."""
    if getattr(file, "_committed", False):
        return  # already stored: see validate_avatar_size
    try:
        file.seek(0)
        with Image.open(file) as image:
            kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError):
        raise ValidationError(
            _("This file is not an image we can read."), code="invalid_image"
        ) from None
    finally:
        file.seek(0)
    if kind not in AVATAR_FORMATS:
        raise ValidationError(
            _("This is a %(kind)s image; upload a JPEG, PNG, GIF or WebP picture."),
            params={"kind": kind or _("unknown")},
            code="invalid_image_format",
        )
    if max(width, height) > AVATAR_MAX_SIDE:
        raise ValidationError(
            _(
                "The picture is %(width)s by %(height)s pixels; the largest allowed is "
                "%(side)s by %(side)s."
            ),
            params={"width": width, "height": height, "side": AVATAR_MAX_SIDE},
            code="image_too_large",
        )


@functools.cache
def available_time_zones() -> tuple[str, ...]:
    """IANA time zone names this machine knows (Python's zoneinfo), sorted."""
    return tuple(sorted(zoneinfo.available_timezones()))


def validate_time_zone(value: str) -> None:
    if value not in available_time_zones():
        raise ValidationError(_("Choose a time zone from the list."), code="invalid_time_zone")
