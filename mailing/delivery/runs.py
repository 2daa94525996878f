"""Runs: start them (due occurrences and Send now), decide which may send, finish and cancel.

`ensure_sendable` is the one rule for whether a mailing may start a run, checked on the rows
`lock_mailing` locks; `sendable_runs` is the one rule for which open runs may send now (the
claims and each sender's liveness check read it). Stop, manager disable and owner block go
through `cancel_runs`.
"""

import logging
import uuid
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from .. import cache, schedule
from ..audience import mailing_audience
from ..digests import decide
from ..models import Delivery, Mailing, Run
from .records import db_datetime, record_cancellations
from .suppression import skip_suppressed

logger = logging.getLogger("mailing.delivery")

PENDING = Delivery.State.PENDING
CLAIMED = Delivery.State.CLAIMED
CANCELLED = Delivery.State.CANCELLED


def start_due_runs(*, now: datetime | None = None) -> list[Run]:
    """Start a run for every mailing whose next occurrence has come; idempotent."""
    now = now or timezone.now()
    due_ids = list(
        Mailing.objects.filter(
            next_send_at__lte=now,
            is_disabled=False,
            paused_at__isnull=True,
            owner__is_blocked=False,
        )
        .exclude(status=Mailing.Status.FINISHED)
        .values_list("pk", flat=True)
    )
    runs = []
    for mailing_id in due_ids:
        run = _start_scheduled_run(mailing_id=mailing_id, now=now)
        if run is not None:
            runs.append(run)
    return runs


@transaction.atomic
def _start_scheduled_run(*, mailing_id: int, now: datetime) -> Run | None:
    mailing = lock_mailing(mailing_id=mailing_id)
    if (
        mailing is None
        or mailing.next_send_at is None
        or mailing.next_send_at > now
        or mailing.is_disabled
        or mailing.is_paused
        or mailing.owner.is_blocked
        or mailing.status == Mailing.Status.FINISHED
    ):
        return None
    if now >= mailing.end_at:
        # Too late for any occurrence: nothing is sent, `finish_completed` closes it.
        mailing.next_send_at = None
        mailing.save(update_fields=["next_send_at", "updated_at"])
        return None
    if _open_run_of(mailing) is not None:
        # One run at a time: the occurrence stays due and a tick after that run starts it.
        return None
    occurrence = _take_due_occurrence(mailing, now=now)
    return _open_run(mailing=mailing, occurrence=occurrence, trigger=Run.Trigger.SCHEDULE, now=now)


def lock_mailing(*, mailing_id: int) -> Mailing | None:
    """The mailing (with its owner) under row locks, to decide whether it may start a run.

    The owner's row is locked too, and first: blocking a user updates that row before it
    touches the mailings, so a block committing meanwhile is either waited for and seen here,
    or waits for this transaction and then sees (and cancels) the run it opened; taking the
    rows in the same order as the block means the two never deadlock."""
    owner_id = Mailing.objects.filter(pk=mailing_id).values_list("owner_id", flat=True).first()
    if owner_id is None:
        return None
    owner = get_user_model().objects.select_for_update(no_key=True).filter(pk=owner_id)
    list(owner.values_list("pk", flat=True))
    return (
        Mailing.objects.select_for_update(of=("self",))
        .select_related("owner")
        .filter(pk=mailing_id)
        .first()
    )


def _open_run_of(mailing: Mailing) -> Run | None:
    return Run.objects.filter(mailing=mailing, finished_at__isnull=True).first()


def _take_due_occurrence(mailing: Mailing, *, now: datetime) -> datetime:
    """The due occurrence a run started now stands for, with `next_send_at` moved past it.

    A scheduler that was down sends the current occurrence once; it never backfills."""
    _, occurrence = schedule.latest_occurrence(
        anchor=mailing.schedule_anchor, periodicity=mailing.periodicity, now=now
    )
    if mailing.next_send_at is not None:
        occurrence = max(occurrence, mailing.next_send_at)
    following = schedule.next_occurrence(
        anchor=mailing.schedule_anchor, periodicity=mailing.periodicity, after=occurrence
    )
    mailing.next_send_at = following if following and following < mailing.end_at else None
    return occurrence


class CannotSend(Exception):
    """The mailing may not send now; the text, meant for its owner, says why."""


class AlreadySending(CannotSend):
    """The mailing has a run that is still being delivered."""

    def __init__(self, run: Run) -> None:
        super().__init__("This mailing is already being sent.")
        self.run = run


def ensure_sendable(*, mailing: Mailing, now: datetime, starting: bool = True) -> None:
    """The one rule for whether a mailing may send; raises `CannotSend` saying why not.

    Give it the row `lock_mailing` returned, so that what it checks still holds when the
    transaction commits. `starting=False` (setting the next send time) checks only what would
    also keep a later run from starting."""
    if mailing.is_disabled:
        raise CannotSend("A manager has disabled this mailing.")
    if mailing.owner.is_blocked:
        raise CannotSend("The owner's account is blocked.")
    if starting and mailing.is_paused:
        raise CannotSend("This mailing is paused; resume it to send it.")
    if starting:
        # Before the end and status checks: an open run is still delivered after either.
        open_run = _open_run_of(mailing)
        if open_run is not None:
            raise AlreadySending(open_run)
        if mailing.status == Mailing.Status.FINISHED:
            raise CannotSend("This mailing has finished; schedule it to send it again.")
    if mailing.end_at <= now:
        raise CannotSend("This mailing's end has passed; change its end to send it again.")
    if starting and not mailing_audience(mailing=mailing).exists():
        raise CannotSend("This mailing has no recipients.")


@transaction.atomic
def start_run(*, mailing: Mailing, now: datetime | None = None) -> Run:
    """Send now: enqueue a run at once (the scheduler or `send_mailing` delivers it).

    Everything is checked under the row locks (`ensure_sendable`), so a disable or a block
    committed since the caller loaded `mailing` is seen, and two simultaneous requests cannot
    both start one. Raises `CannotSend` (`AlreadySending` when a run is open)."""
    now = now or timezone.now()
    locked = lock_mailing(mailing_id=mailing.pk)
    if locked is None:
        raise CannotSend("This mailing no longer exists.")
    ensure_sendable(mailing=locked, now=now)
    if locked.next_send_at is not None and locked.next_send_at <= now:
        # Its next occurrence is due: this run is that occurrence, not an extra one that the
        # next tick would follow with a second run (every recipient mailed twice).
        occurrence = _take_due_occurrence(locked, now=now)
    else:
        occurrence = now
        if locked.periodicity == Mailing.Periodicity.ONCE:
            locked.next_send_at = None  # this is its one run
    return _open_run(mailing=locked, occurrence=occurrence, trigger=Run.Trigger.MANUAL, now=now)


def _open_run(*, mailing: Mailing, occurrence: datetime, trigger: str, now: datetime) -> Run:
    run, created = Run.objects.get_or_create(
        mailing=mailing, occurrence=occurrence, defaults={"trigger": trigger, "created_at": now}
    )
    # What the run sends is decided before anything is queued: a digest with no new post
    # queues nothing (mailing.digests).
    queued = (
        _enqueue(run=run, now=now) if created and decide(run=run, mailing=mailing, now=now) else 0
    )
    # Suppressed addresses (unsubscribed, bounced) are queued as skipped, never sent.
    skipped = skip_suppressed(run_id=run.pk, owner_id=mailing.owner_id) if queued else 0
    mailing.status = Mailing.Status.LAUNCHED
    mailing.save(update_fields=["status", "next_send_at", "updated_at"])
    cache.bump(owner_id=mailing.owner_id)
    logger.info(
        "run.started",
        extra={
            "mailing_id": mailing.pk,
            "run_id": run.pk,
            "trigger": trigger,
            "occurrence": occurrence.isoformat(),
            "deliveries": queued,
            "skipped": skipped,
        },
    )
    return run


def _enqueue(*, run: Run, now: datetime) -> int:
    """One delivery per recipient the mailing reaches now (`mailing.audience`: its direct
    recipients and its lists' confirmed members, each once), in one INSERT … SELECT however
    many there are.

    Raw SQL bypasses the ORM's value conversion, so datetimes are adapted explicitly (SQLite
    compares them as text in Django's format)."""
    delivery = Delivery._meta.db_table
    audience, audience_params = mailing_audience(mailing=run.mailing).query.sql_with_params()
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(delivery)} (run_id, recipient_id, state, tries, next_try_at) "
            f"SELECT %s, audience.recipient_id, %s, 0, %s FROM ({audience}) AS audience "
            # (SQLite needs a WHERE to read ON CONFLICT as the INSERT's, not a join's.)
            "WHERE 1 = 1 ON CONFLICT (run_id, recipient_id) DO NOTHING",
            [run.pk, PENDING, db_datetime(now), *audience_params],
        )
        return cursor.rowcount


def sendable_runs(*, mailing_id: int | None = None) -> QuerySet:
    """Open runs whose deliveries may go out: not cancelled, mailing enabled and not paused,
    owner not blocked.

    Senders claim only from these and hand back, within their liveness check, the claims of a
    run that stops being one of them."""
    runs = Run.objects.filter(
        finished_at__isnull=True,
        cancelled_at__isnull=True,
        mailing__is_disabled=False,
        mailing__paused_at__isnull=True,
        mailing__owner__is_blocked=False,
    )
    if mailing_id is not None:
        runs = runs.filter(mailing_id=mailing_id)
    return runs


def finish_completed(*, now: datetime | None = None) -> dict[str, int]:
    """Close runs with nothing left to send; finish mailings with nothing left to run."""
    now = now or timezone.now()
    open_runs = Run.objects.filter(finished_at__isnull=True)
    sweep_cancelled_runs(
        run_ids=set(open_runs.filter(cancelled_at__isnull=False).values_list("pk", flat=True))
    )
    busy = Delivery.objects.filter(run=OuterRef("pk"), state__in=[PENDING, CLAIMED])
    idle_runs = open_runs.filter(~Exists(busy))
    owners = set(idle_runs.values_list("mailing__owner_id", flat=True))
    runs_closed = idle_runs.update(finished_at=now)

    still_open = Run.objects.filter(mailing=OuterRef("pk"), finished_at__isnull=True)
    # A mailing that never started and has no next send is a draft: it waits for its owner.
    ending = Mailing.objects.exclude(status=Mailing.Status.FINISHED).filter(
        ~Exists(still_open),
        Q(next_send_at__isnull=True, status=Mailing.Status.LAUNCHED) | Q(end_at__lte=now),
    )
    owners |= set(ending.values_list("owner_id", flat=True))
    mailings_finished = ending.update(
        status=Mailing.Status.FINISHED, next_send_at=None, updated_at=now
    )
    for owner_id in owners:
        cache.bump(owner_id=owner_id)
    if runs_closed or mailings_finished:
        logger.info(
            "delivery.finished",
            extra={"runs_closed": runs_closed, "mailings_finished": mailings_finished},
        )
    return {"runs_closed": runs_closed, "mailings_finished": mailings_finished}


def cancel_runs(*, runs: QuerySet, reason: str, now: datetime | None = None) -> int:
    """Stop runs: each pending delivery becomes a failed attempt with `reason`.

    Deliveries a sender holds right now are left to it: it notices within
    LIVENESS_CHECK_SECONDS, hands back what it has not sent, and those are swept here too.
    Returns the number of deliveries cancelled.
    """
    now = now or timezone.now()
    with transaction.atomic():
        run_ids = set(runs.filter(finished_at__isnull=True).values_list("pk", flat=True))
        Run.objects.filter(pk__in=run_ids, cancelled_at__isnull=True).update(
            cancelled_at=now, cancel_reason=reason[:200]
        )
        return sweep_cancelled_runs(run_ids=run_ids, now=now)


def sweep_cancelled_runs(*, run_ids: set[int], now: datetime | None = None) -> int:
    """Turn the pending deliveries of cancelled runs into failed attempts; close idle runs."""
    if not run_ids:
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        count = _cancel_pending(
            Delivery.objects.filter(run_id__in=run_ids, run__cancelled_at__isnull=False), now=now
        )
        busy = Delivery.objects.filter(run=OuterRef("pk"), state=CLAIMED)
        closed = (
            Run.objects.filter(pk__in=run_ids, finished_at__isnull=True)
            .filter(~Exists(busy))
            .update(finished_at=now)
        )
    if count or closed:
        # Their owners' lists and totals change (a closed run no longer shows as sending).
        owners = Mailing.objects.filter(runs__in=run_ids).values_list("owner_id", flat=True)
        for owner_id in set(owners):
            cache.bump(owner_id=owner_id)
    if count:
        logger.info("delivery.cancelled", extra={"runs": sorted(run_ids), "deliveries": count})
    return count


def cancel_deliveries_to(*, recipient_id: int, reason: str, now: datetime | None = None) -> int:
    """The recipient is going away: each pending delivery to them, in any run, becomes a
    failed attempt with `reason`. Returns how many there were."""
    now = now or timezone.now()
    with transaction.atomic():
        return _cancel_pending(
            Delivery.objects.filter(recipient_id=recipient_id), now=now, reason=reason
        )


def _cancel_pending(deliveries: QuerySet, *, now: datetime, reason: str | None = None) -> int:
    """Cancel the pending ones of `deliveries`, each with a failed attempt saying why: `reason`,
    or its run's cancel reason. Call it inside a transaction."""
    marker = uuid.uuid4()
    # Mark first, then copy the marked rows: a concurrent claim either got a row before this
    # UPDATE (and the sender handles it) or finds it cancelled; never both.
    count = deliveries.filter(state=PENDING).update(
        state=CANCELLED, claim_token=marker, lease_expires_at=None
    )
    if count:
        record_cancellations(marker=marker, now=now, reason=reason)
        # The marker has done its job; left there it would stay in the live-claims index.
        Delivery.objects.filter(claim_token=marker).update(claim_token=None)
    return count
