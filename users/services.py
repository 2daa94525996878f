"""Writes on user accounts: profile updates and a manager's block / unblock."""

import logging

from django.db import transaction
from django.utils import timezone

from mailing import services as mailing_services
from mailing.permissions import ensure_can_manage

from .models import User

logger = logging.getLogger(__name__)


@transaction.atomic
def block_user(*, actor: User, user: User) -> None:
    """Block the account and stop everything of theirs that is queued or running.

    Raises PermissionDenied unless the rule (`mailing.permissions.can_manage`) lets `actor`.
    """
    ensure_can_manage(actor, "block", user)
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
    """Give the account back its writes (its stopped mailings stay stopped).

    Raises PermissionDenied unless the rule (`mailing.permissions.can_manage`) lets `actor`.
    """
    ensure_can_manage(actor, "unblock", user)
    if not user.is_blocked:
        return
    user.is_blocked = False
    user.blocked_at = None
    user.blocked_by = None
    user.save(update_fields=["is_blocked", "blocked_at", "blocked_by"])
    logger.info("user.unblocked", extra={"user_id": user.pk, "actor_id": actor.pk})


def update_profile(*, form) -> User:
    """Save the signed-in user's profile form."""
    user = form.save()
    logger.info("user.profile_updated", extra={"user_id": user.pk})
    return user
