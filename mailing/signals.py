"""Receivers of the campaign app: the plan of a mailing stored without one, the mailings of a
blocked account, and cached figures when campaign data goes away without a service call."""

from typing import Any

from django.conf import settings
from django.db.models import Model
from django.db.models.signals import post_delete, pre_save
from django.dispatch import receiver

from core.signals import account_blocked, account_deleting, account_unblocked
from users.models import User

from . import cache, schedule, services

MAILING = "mailing.mailing"
# The stored value, not Mailing.Status: a historical model has no Status class.
FINISHED = "finished"


@receiver(pre_save)
def plan_unplanned_mailing(sender: type[Model], instance: Any, **kwargs: Any) -> None:
    """A mailing stored without a schedule gets the one the dashboard gives a new mailing
    (`schedule.initial_plan`), so that the scheduler sends it at its first send.

    This is the one hook every way of storing a mailing passes through: the services,
    `Mailing.objects.create(...)` with the model's own fields in a shell, `loaddata` (its raw
    saves skip `save()` but still send pre_save, with raw=True: the plan reads only the row's
    own fields, so it is safe there), an admin form, and a data migration. Connected for every
    sender and matched by label because a data migration saves instances of a historical
    Mailing class, not of `mailing.models.Mailing`. A mailing that has an anchor (every stored
    row, and anyone who sets one on purpose) is left as it is; an explicit `next_send_at` is
    kept. (`bulk_create` and `QuerySet.update` send no signal: code that bulk-loads mailings
    gives them their plan, as the benchmarks do.)"""
    if sender._meta.label_lower != MAILING or instance.schedule_anchor is not None:
        return
    if instance.first_send_at is None or instance.end_at is None:
        return  # nothing to plan from: the database refuses the row with its own error
    new = schedule.initial_plan(
        first_send_at=instance.first_send_at,
        periodicity=instance.periodicity,
        end_at=instance.end_at,
        finished=instance.status == FINISHED,
    )
    instance.schedule_anchor = new.anchor
    if instance.next_send_at is None:
        instance.next_send_at = new.next_send_at


@receiver(account_blocked)
def hold_mailings_of_blocked_account(sender: object, user: User, **kwargs: Any) -> int:
    """Blocking an account holds everything of theirs that is queued or planned."""
    return services.mailings_hold_for_blocked_owner(owner=user)


@receiver(account_unblocked)
def resume_mailings_of_unblocked_account(sender: object, user: User, **kwargs: Any) -> int:
    """Unblocking an account gives back what the block held."""
    return services.mailings_resume_for_unblocked_owner(owner=user)


@receiver(account_deleting)
def delete_campaigns_of_deleted_account(sender: object, user: User, **kwargs: Any) -> None:
    """Deleting an account: its runs in flight stop first, then everything it owned goes."""
    services.owner_data_delete(owner=user)


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def forget_deleted_owner(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    """Deleting an account deletes everything it owned (cascade): drop that owner's cached
    pages and the site-wide ones, so the home page's totals drop at once."""
    cache.bump(owner_id=instance.pk)
