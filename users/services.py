"""Writes on user accounts: profile updates and a manager's block / unblock."""

import logging

from django.db import transaction
from django.utils import timezone

from mailing import services as mailing_services

from .models import User

logger = logging.getLogger(__name__)


class CannotBlock(Exception):
    """The manager may not block this account (themselves or a staff account)."""


@transaction.atomic
def block_user(*, actor: User, user: User) -> None:
    """Block the account and stop everything of theirs that is queued or running."""
    if user.pk == actor.pk:
        raise CannotBlock("You cannot block your own account.")
    if user.is_superuser or user.is_staff:
        raise CannotBlock("Staff accounts cannot be blocked here.")
    if user.is_blocked:
        return
    user.is_blocked = True
    user.blocked_at = timezone.now()
    user.blocked_by = actor
    user.save(update_fields=["is_blocked", "blocked_at", "blocked_by"])
    stopped = mailing_services.stop_mailings_of_blocked_owner(owner=user)
    logger.info(
        "user.blocked",
        extra={"user_id": user.pk, "actor_id": actor.pk, "mailings_stopped": stopped},
    )


@transaction.atomic
def unblock_user(*, actor: User, user: User) -> None:
    if not user.is_blocked:
        return
    user.is_blocked = False
    user.blocked_at = None
    user.blocked_by = None
    user.save(update_fields=["is_blocked", "blocked_at", "blocked_by"])
    logger.info("user.unblocked", extra={"user_id": user.pk, "actor_id": actor.pk})


def update_profile(*, form) -> User:
    user = form.save()
    logger.info("user.profile_updated", extra={"user_id": user.pk})
    return user
