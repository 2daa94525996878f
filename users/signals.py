"""Structured log lines for sign-ins, sign-outs and failed sign-ins; the role groups synced
after every migrate."""

import logging

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from .roles import sync_groups_after_migrate

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
