"""Structured log lines for sign-ins, sign-outs and failed sign-ins; the role groups and the
Sites framework's site synced after every migrate; avatar files that no account points at any
more removed; a user's language and time zone mirrored to and from Wagtail's profile."""

import logging

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models.signals import post_delete, post_migrate, post_save, pre_save
from django.dispatch import receiver
from wagtail.users.models import UserProfile

from site_project.sites import sync_site

from . import preferences
from .groups import sync_groups_after_migrate
from .models import User

PREFERENCE_FIELDS = {"language", "time_zone"}

logger = logging.getLogger(__name__)


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


@receiver(user_logged_in)
def log_sign_in(sender, request, user, **kwargs) -> None:
    logger.info("user.signed_in", extra={"user_id": user.pk, "ip": _client_ip(request)})


@receiver(user_logged_out)
def log_sign_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        logger.info("user.signed_out", extra={"user_id": user.pk})


@receiver(user_login_failed)
def log_failed_sign_in(sender, credentials, request=None, **kwargs) -> None:
    # The password is never logged; allauth passes the email under "email" or "username".
    login = credentials.get("email") or credentials.get("username")
    logger.warning("user.sign_in_failed", extra={"login": login, "ip": _client_ip(request)})


@receiver(post_migrate)
def sync_roles(sender, using, **kwargs) -> None:
    # Sent once per app; the users app's turn is enough (and its models are there).
    if sender.label == "users":
        sync_groups_after_migrate(using=using)


@receiver(post_migrate)
def sync_site_after_migrate(sender, using, **kwargs) -> None:
    # The sites app's own turn: its table exists, and its default "example.com" is replaced.
    if sender.label == "sites":
        sync_site(using=using)


@receiver(post_save, sender=User)
def mirror_preferences_to_wagtail(
    sender, instance, created, raw=False, update_fields=None, **kwargs
):
    if raw or (update_fields is not None and not PREFERENCE_FIELDS & set(update_fields)):
        return
    if created and not instance.language and instance.time_zone == settings.TIME_ZONE:
        return  # Wagtail's defaults already say the same
    preferences.mirror_to_wagtail(instance)


@receiver(post_save, sender=UserProfile)
def mirror_preferences_from_wagtail(sender, instance, raw=False, **kwargs) -> None:
    if not raw:
        preferences.mirror_from_wagtail(instance)


@receiver(pre_save, sender=User)
def note_replaced_avatar(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """Remember the stored avatar that this save replaces (a new picture, or "remove it")."""
    if (
        raw
        or instance._state.adding
        or (update_fields is not None and "avatar" not in update_fields)
    ):
        return
    stored = User.objects.filter(pk=instance.pk).values_list("avatar", flat=True).first()
    if stored and stored != instance.avatar.name:
        instance._replaced_avatar = stored


@receiver(post_save, sender=User)
def delete_replaced_avatar(sender, instance, **kwargs) -> None:
    replaced = instance.__dict__.pop("_replaced_avatar", None)
    if replaced:
        _delete_after_commit(instance.avatar.storage, replaced)


@receiver(post_delete, sender=User)
def delete_avatar_of_deleted_user(sender, instance, **kwargs) -> None:
    if instance.avatar:
        _delete_after_commit(instance.avatar.storage, instance.avatar.name)


def _delete_after_commit(storage, name: str) -> None:
    # Only once the row that pointed at the file is gone for good: a rolled-back save still
    # points at it (outside a transaction, on_commit runs at once).
    transaction.on_commit(lambda: storage.delete(name))
