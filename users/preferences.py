"""A user's language and time zone: remembered in their profile, applied to every request, and
mirrored into Wagtail's own profile so that the admin follows the site's switcher.

Wagtail's admin takes its language from its UserProfile.preferred_language (or, when that is
empty, from the active language) and its time zone from UserProfile.current_time_zone (or
TIME_ZONE, never from the active zone). Both are kept equal to the user's own fields, in both
directions: the site's switcher and profile write `users.User`, and Wagtail's account page,
which writes its profile, is copied back (users.signals)."""

import logging
import zoneinfo

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone, translation

from .models import User

logger = logging.getLogger(__name__)


def language_of(user: User) -> str:
    """The user's own language, or "" when they chose none (the browser's applies then)."""
    return user.language if user.language in dict(settings.LANGUAGES) else ""


def time_zone_of(user: User) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(user.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def apply_to_request(request: HttpRequest) -> None:
    """Activate the signed-in user's language (if they chose one) and time zone for this
    request; for anyone else the site's time zone."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        timezone.deactivate()
        return
    timezone.activate(time_zone_of(user))
    language = language_of(user)
    if language:
        translation.activate(language)
        request.LANGUAGE_CODE = language


def remember_language(*, user: User, language: str) -> User:
    """Store the language a signed-in user picked with the switcher ("" for none)."""
    if language and language not in dict(settings.LANGUAGES):
        raise ValueError(f"Unknown language {language!r}")
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
        logger.info("user.language_changed", extra={"user_id": user.pk, "language": language})
    return user


def mirror_to_wagtail(user: User) -> None:
    """Wagtail's profile of `user` says the same language and time zone as the user's own."""
    from wagtail.users.models import UserProfile

    UserProfile.objects.update_or_create(
        user=user,
        defaults={"preferred_language": language_of(user), "current_time_zone": user.time_zone},
    )


def mirror_from_wagtail(profile) -> None:
    """What someone chose on Wagtail's account page becomes the user's own choice."""
    language = profile.preferred_language
    User.objects.filter(pk=profile.user_id).update(
        language=language if language in dict(settings.LANGUAGES) else "",
        time_zone=profile.current_time_zone or settings.TIME_ZONE,
    )
