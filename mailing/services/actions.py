"""What owners and managers do to a mailing besides editing it: send now, schedule, stop,
disable, and stopping the mailings of an account that is blocked. Everything that moves mail
is the delivery engine's (`mailing.delivery`); these decide who may, and when."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from core.refusals import ActionRefused
from core.roles import ensure_can_manage, ensure_can_write
from users.models import User

from .. import cache, delivery
from ..models import Mailing, Run
from .common import in_flight, log_event


def mailing_send_now(*, user: User, mailing: Mailing) -> Run:
    """Queue a run for right now and return at once; senders deliver it in the background.
    Raises PermissionDenied unless `user` may write the mailing, and ActionRefused when it
    cannot send (finished, disabled, a blocked owner, already sending)."""
    ensure_can_write(user, mailing)
    try:
        run = delivery.start_run(mailing=mailing)
    except delivery.CannotSend as refusal:
        raise ActionRefused(str(refusal)) from refusal
    log_event(mailing, "send_now", user, run_id=run.pk)
    return run


@transaction.atomic
def mailing_schedule(*, user: User, mailing: Mailing, send_at: datetime) -> Mailing:
    """Set the next send; later occurrences of a periodic mailing follow from it.

    Raises PermissionDenied unless `user` may write the mailing, ActionRefused when it cannot
    send, and a ValidationError on `send_at` for a time that is not in the future or not
    before the mailing's end."""
    ensure_can_write(user, mailing)
    locked = delivery.lock_mailing(mailing_id=mailing.pk)
    if locked is None:
        raise ActionRefused(gettext("This mailing was deleted meanwhile."))
    now = timezone.now()
    try:
        delivery.ensure_sendable(mailing=locked, now=now, starting=False)
    except delivery.CannotSend as refusal:
        raise ActionRefused(str(refusal)) from refusal
    if send_at <= now:
        raise ValidationError({"send_at": gettext("Choose a time in the future.")})
    if send_at >= locked.end_at:  # checked under the lock: the end may just have moved
        raise ValidationError({"send_at": gettext("Choose a time before the mailing's end.")})
    locked.schedule_anchor = send_at
    locked.next_send_at = send_at
    if locked.status == Mailing.Status.FINISHED:
        has_run = Run.objects.filter(mailing=locked).exists()
        locked.status = Mailing.Status.LAUNCHED if has_run else Mailing.Status.CREATED
    locked.save(update_fields=["schedule_anchor", "next_send_at", "status", "updated_at"])
    cache.bump(owner_id=locked.owner_id)
    log_event(locked, "scheduled", user, send_at=send_at.isoformat())
    return locked


@transaction.atomic
def mailing_stop(*, user: User, mailing: Mailing) -> int:
    """Cancel what is queued (each recipient gets a failed attempt saying so) and finish;
    returns the number of messages cancelled. ActionRefused when it has finished already."""
    ensure_can_write(user, mailing)
    current = Mailing.objects.select_for_update().get(pk=mailing.pk)
    if current.status == Mailing.Status.FINISHED and not in_flight([current]):
        raise ActionRefused(gettext("This mailing has already finished."))
    cancelled = _stop(mailing, reason=gettext_noop("stopped by the owner"))
    log_event(mailing, "stopped", user, cancelled=cancelled)
    return cancelled


@transaction.atomic
def mailing_disable(*, manager: User, mailing: Mailing) -> int:
    """A manager switches a mailing off for good; its queue is cancelled like a stop.
    Raises PermissionDenied unless the rule lets `manager` disable mailings, and
    ActionRefused for a mailing disabled already."""
    ensure_can_manage(manager, "disable")
    if mailing.is_disabled:
        raise ActionRefused(gettext("This mailing is already disabled."))
    Mailing.objects.filter(pk=mailing.pk).update(
        is_disabled=True, disabled_at=timezone.now(), disabled_by=manager
    )
    mailing.refresh_from_db(fields=["is_disabled", "disabled_at", "disabled_by"])
    cancelled = _stop(mailing, reason=gettext_noop("disabled by a manager"))
    log_event(mailing, "disabled", manager, cancelled=cancelled, owner_id=mailing.owner_id)
    return cancelled


def mailings_stop_for_blocked_owner(*, owner: User) -> int:
    """When an account is blocked (inside that transaction): cancel every open run of theirs
    and finish their launched mailings, in the same few queries however many there are.
    Mailings that never started stay `created`: the scheduler skips blocked owners, so they
    wait. Returns the number of mailings stopped."""
    now = timezone.now()
    open_run = Run.objects.filter(mailing=OuterRef("pk"), finished_at__isnull=True)
    stopping = Mailing.objects.filter(owner=owner).filter(
        Q(status=Mailing.Status.LAUNCHED) | Exists(open_run)
    )
    stopped = stopping.count()
    # Mailings before runs, the order a stop or a manager's disable locks them in.
    Mailing.objects.filter(owner=owner, status=Mailing.Status.LAUNCHED).update(
        status=Mailing.Status.FINISHED, next_send_at=None, updated_at=now
    )
    delivery.cancel_runs(
        runs=Run.objects.filter(mailing__owner=owner),
        reason=gettext_noop("the owner's account was blocked"),
        now=now,
    )
    cache.bump(owner_id=owner.pk)
    return stopped


def _stop(mailing: Mailing, *, reason: str) -> int:
    # Under the row lock: a run the scheduler or Send now is opening right now is either
    # committed first (and cancelled here) or waits and then finds the mailing finished.
    Mailing.objects.select_for_update().filter(pk=mailing.pk).values_list("pk").first()
    cancelled = delivery.cancel_runs(runs=Run.objects.filter(mailing=mailing), reason=reason)
    Mailing.objects.filter(pk=mailing.pk).update(
        status=Mailing.Status.FINISHED, next_send_at=None, updated_at=timezone.now()
    )
    mailing.refresh_from_db(fields=["status", "next_send_at", "updated_at"])
    cache.bump(owner_id=mailing.owner_id)
    return cancelled
