"""Writes on user accounts: the profile, a manager's block / unblock, and a person deleting
their own account."""

import logging
from typing import Any, TypedDict, Unpack

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.refusals import ActionRefused
from core.roles import ensure_can_manage
from core.signals import account_blocked, account_deleting, account_unblocked

from .models import User

logger = logging.getLogger(__name__)


class ProfileFields(TypedDict, total=False):
    """What a person edits of their own profile. `avatar`: a new picture, or None to remove
    the one they have."""

    first_name: str
    last_name: str
    avatar: File | None
    phone: str
    country: str
    language: str
    time_zone: str


PROFILE_FIELDS = frozenset(ProfileFields.__annotations__)


@transaction.atomic
def user_profile_update(*, user: User, **fields: Unpack[ProfileFields]) -> User:
    """Change what is given of `user`'s profile (a field left out stays as it is) and write
    only that. Raises a ValidationError naming the field for a value the model refuses (a
    phone number of letters, a picture that is too large or not a picture)."""
    unknown = set(fields) - PROFILE_FIELDS
    if unknown:
        raise TypeError(f"Not a profile field: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(user, name, "" if name == "avatar" and value is None else value)
    user.full_clean(
        exclude=[field.name for field in User._meta.concrete_fields if field.name not in fields]
    )
    user.save(update_fields=list(fields))
    logger.info("user.profile_updated", extra={"user_id": user.pk, "fields": sorted(fields)})
    return user


@transaction.atomic
def user_block(*, actor: User, user: User) -> None:
    """Block the account: it changes and sends nothing, and everything of theirs that is
    queued or planned is held as it is (the campaigns app does that on
    `core.signals.account_blocked`, in this transaction); `user_unblock` gives it back.

    Raises PermissionDenied unless the rule (`core.roles.can_manage`) lets `actor`."""
    ensure_can_manage(actor, "block", user)
    if user.is_blocked:
        return
    user.is_blocked = True
    user.blocked_at = timezone.now()
    user.blocked_by = actor
    user.save(update_fields=["is_blocked", "blocked_at", "blocked_by"])
    answers: list[tuple[Any, Any]] = account_blocked.send(sender=User, user=user, actor=actor)
    held = sum(answer for _, answer in answers if isinstance(answer, int))
    logger.info(
        "user.blocked",
        extra={"user_id": user.pk, "actor_id": actor.pk, "mailings_held": held},
    )


@transaction.atomic
def user_unblock(*, actor: User, user: User) -> None:
    """Give the account back its writes and its mailings as they were before the block: what
    was queued goes on, and a periodic mailing continues with its next occurrence (those
    that fell due during the block are skipped; `core.signals.account_unblocked`).

    Raises PermissionDenied unless the rule (`core.roles.can_manage`) lets `actor`."""
    ensure_can_manage(actor, "unblock", user)
    if not user.is_blocked:
        return
    user.is_blocked = False
    user.blocked_at = None
    user.blocked_by = None
    user.save(update_fields=["is_blocked", "blocked_at", "blocked_by"])
    answers: list[tuple[Any, Any]] = account_unblocked.send(sender=User, user=user, actor=actor)
    skipped = sum(answer for _, answer in answers if isinstance(answer, int))
    logger.info(
        "user.unblocked",
        extra={"user_id": user.pk, "actor_id": actor.pk, "occurrences_skipped": skipped},
    )


@transaction.atomic
def account_delete(*, user: User, password: str) -> None:
    """Delete `user`'s own account once they confirm it with their password: what they have
    in flight stops first, then everything they own goes (campaigns in bulk, on
    `core.signals.account_deleting`, in this transaction; the rest by the row's cascade),
    and their avatar file once this commits (`users.signals`).

    Raises a ValidationError on `password` when it is not theirs (or they have none), and
    ActionRefused for a superuser, whose account only another administrator may remove."""
    if not password or not user.has_usable_password() or not user.check_password(password):
        raise ValidationError(
            {"password": gettext("This is not your password.")}, code="wrong_password"
        )
    if user.is_superuser:
        raise ActionRefused(
            gettext("An administrator's account is deleted by another administrator.")
        )
    # Locked: a manager blocking them, or a second deletion, waits for this one.
    locked = User.objects.select_for_update().get(pk=user.pk)
    account_deleting.send(sender=User, user=locked)
    user_id = locked.pk
    locked.delete()
    logger.info("user.deleted_own_account", extra={"user_id": user_id})
