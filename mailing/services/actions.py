"""What owners and managers do to a mailing besides editing it: send now, schedule, stop,
pause and resume, disable and enable, and holding the mailings of an account while it is
blocked. Everything that moves mail is the delivery engine's (`mailing.delivery`); these
decide who may, and when.

Held and given back: a pause, a manager's block of the owner, and a disable all keep the
mailing's plan. Pause and block hold the queue as it is (nothing cancelled; the senders hand
back what they hold within their liveness check, untried). Disable cancels what is queued,
like a stop, but does not finish the mailing. When a held mailing is given back (resume,
unblock, enable), the occurrences of a periodic mailing that fell due meanwhile are skipped
(counted in the log line) and it goes on with its next one; a one-off that never ran is sent
at once, its only occurrence being late rather than gone."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from core.refusals import ActionRefused
from core.roles import ensure_can_manage, ensure_can_write
from users.models import User

from .. import cache, delivery, schedule
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
    Mailing.objects.filter(pk=mailing.pk).update(paused_at=None)  # a stop ends a pause too
    log_event(mailing, "stopped", user, cancelled=cancelled)
    return cancelled


@transaction.atomic
def mailing_disable(*, manager: User, mailing: Mailing) -> int:
    """A manager switches a mailing off: its queue is cancelled like a stop (each recipient
    waiting gets a failed attempt saying so) and nothing of it starts until a manager enables
    it again; its plan is kept. Returns the number of messages cancelled.

    Raises PermissionDenied unless the rule lets `manager` disable mailings, and
    ActionRefused for a mailing disabled already."""
    ensure_can_manage(manager, "disable")
    locked = Mailing.objects.select_for_update().filter(pk=mailing.pk).first()
    if locked is None:
        raise ActionRefused(gettext("This mailing was deleted meanwhile."))
    if locked.is_disabled:
        raise ActionRefused(gettext("This mailing is already disabled."))
    Mailing.objects.filter(pk=mailing.pk).update(
        is_disabled=True, disabled_at=timezone.now(), disabled_by=manager
    )
    mailing.refresh_from_db(fields=["is_disabled", "disabled_at", "disabled_by"])
    cancelled = delivery.cancel_runs(
        runs=Run.objects.filter(mailing=mailing), reason=gettext_noop("disabled by a manager")
    )
    cache.bump(owner_id=mailing.owner_id)
    log_event(mailing, "disabled", manager, cancelled=cancelled, owner_id=mailing.owner_id)
    return cancelled


@transaction.atomic
def mailing_enable(*, manager: User, mailing: Mailing) -> Mailing:
    """A manager gives a disabled mailing back: it goes on with its next occurrence (those
    that fell due while it was disabled are skipped). Raises PermissionDenied unless the
    rule lets `manager` disable mailings, and ActionRefused for one that is not disabled."""
    ensure_can_manage(manager, "disable")
    locked = Mailing.objects.select_for_update().filter(pk=mailing.pk).first()
    if locked is None:
        raise ActionRefused(gettext("This mailing was deleted meanwhile."))
    if not locked.is_disabled:
        raise ActionRefused(gettext("This mailing is not disabled."))
    now = timezone.now()
    locked.is_disabled, locked.disabled_at, locked.disabled_by = False, None, None
    skipped = skip_missed_occurrences(locked, now=now)
    locked.save(
        update_fields=["is_disabled", "disabled_at", "disabled_by", "next_send_at", "updated_at"]
    )
    cache.bump(owner_id=locked.owner_id)
    log_event(locked, "enabled", manager, skipped=skipped, owner_id=locked.owner_id)
    return locked


@transaction.atomic
def mailing_pause(*, user: User, mailing: Mailing) -> Mailing:
    """Hold the mailing: what is queued stays queued (nothing cancelled, nothing failed; a
    sender hands back what it holds, untried, within its liveness check) and no occurrence
    starts until it is resumed. Raises PermissionDenied unless `user` may write it, and
    ActionRefused when it is paused already, finished with nothing queued, or disabled."""
    ensure_can_write(user, mailing)
    locked = Mailing.objects.select_for_update().filter(pk=mailing.pk).first()
    if locked is None:
        raise ActionRefused(gettext("This mailing was deleted meanwhile."))
    if locked.is_paused:
        raise ActionRefused(gettext("This mailing is already paused."))
    if locked.is_disabled:
        raise ActionRefused(gettext("A manager has disabled this mailing."))
    if locked.status == Mailing.Status.FINISHED and not in_flight([locked]):
        raise ActionRefused(gettext("This mailing has already finished."))
    locked.paused_at = timezone.now()
    locked.save(update_fields=["paused_at", "updated_at"])
    cache.bump(owner_id=locked.owner_id)
    log_event(locked, "paused", user)
    return locked


@transaction.atomic
def mailing_resume(*, user: User, mailing: Mailing) -> int:
    """Give a paused mailing back: its queue goes on where it stopped (no one mailed twice,
    no one left out) and it continues with its next occurrence; periodic occurrences that
    fell due during the pause are skipped. Returns how many were skipped. Raises
    PermissionDenied unless `user` may write it, and ActionRefused for one not paused."""
    ensure_can_write(user, mailing)
    locked = Mailing.objects.select_for_update().filter(pk=mailing.pk).first()
    if locked is None:
        raise ActionRefused(gettext("This mailing was deleted meanwhile."))
    if not locked.is_paused:
        raise ActionRefused(gettext("This mailing is not paused."))
    locked.paused_at = None
    skipped = skip_missed_occurrences(locked, now=timezone.now())
    locked.save(update_fields=["paused_at", "next_send_at", "updated_at"])
    cache.bump(owner_id=locked.owner_id)
    log_event(locked, "resumed", user, skipped=skipped)
    return skipped


def mailings_hold_for_blocked_owner(*, owner: User) -> int:
    """When an account is blocked (inside that transaction): nothing of theirs is cancelled
    or finished. Their open runs stop being sendable and the scheduler starts nothing of a
    blocked owner (`delivery.sendable_runs`, `start_due_runs`), so the block itself holds
    everything; unblocking gives it back (`mailings_resume_for_unblocked_owner`). Returns
    the number of mailings held (launched, or with a run open)."""
    open_run = Run.objects.filter(mailing=OuterRef("pk"), finished_at__isnull=True)
    held = Mailing.objects.filter(owner=owner).filter(
        Q(status=Mailing.Status.LAUNCHED) | Exists(open_run)
    )
    cache.bump(owner_id=owner.pk)
    return held.count()


def mailings_resume_for_unblocked_owner(*, owner: User) -> int:
    """When an account is unblocked (inside that transaction): their mailings go on as they
    were; a periodic one whose occurrences fell due during the block continues with its
    next occurrence. Returns the number of occurrences skipped."""
    now = timezone.now()
    late = (
        Mailing.objects.select_for_update()
        .filter(owner=owner, next_send_at__lte=now)
        .exclude(periodicity=Mailing.Periodicity.ONCE)
    )
    skipped = 0
    for mailing in late:
        skipped += skip_missed_occurrences(mailing, now=now)
        mailing.save(update_fields=["next_send_at", "updated_at"])
    cache.bump(owner_id=owner.pk)
    return skipped


def skip_missed_occurrences(mailing: Mailing, *, now: datetime) -> int:
    """Move a held periodic mailing's next send past the occurrences that fell due while it
    was held (to the next one after `now`, or none past its end); returns how many were
    skipped. A one-off keeps its time: it is sent at once. The caller saves `next_send_at`."""
    due = mailing.next_send_at
    if due is None or due > now or mailing.periodicity == Mailing.Periodicity.ONCE:
        return 0
    anchor, periodicity = mailing.schedule_anchor, mailing.periodicity
    first_index, _ = schedule.latest_occurrence(anchor=anchor, periodicity=periodicity, now=due)
    last_index, _ = schedule.latest_occurrence(anchor=anchor, periodicity=periodicity, now=now)
    following = schedule.next_occurrence(anchor=anchor, periodicity=periodicity, after=now)
    mailing.next_send_at = following if following and following < mailing.end_at else None
    return max(1, last_index - first_index + 1)


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
