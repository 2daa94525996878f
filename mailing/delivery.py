"""The delivery engine: the one place where mail is queued, sent, recorded and stopped.

1. Due      `start_due_runs` / `start_run` turn a due occurrence into a `Run` and enqueue one
            `Delivery` per recipient with a single INSERT … SELECT. The unique key
            (run, recipient) and (mailing, occurrence) make a repeated tick a no-op.
2. Claim    `claim_batch` takes pending deliveries with SELECT … FOR UPDATE SKIP LOCKED (a
            conditional UPDATE keeps SQLite correct too) and leases them to one sender, which
            renews the lease every third of it. A renewal returns the claims still held: a
            sender that stalled past its lease (SIGSTOP, a paused VM, a hung database) may have
            had them requeued and taken by another, and it drops those unsent. A stall that long
            makes the renewal due at the next liveness check, so after a stall at most the
            message in flight on each connection can go out twice.
3. Send     `deliver` runs a few SMTP connections in threads; the message is rendered once
            per run and only the To/Message-ID/Date headers differ per recipient.
4. Record   After each message (never before) its `Attempt`, the delivery's new state and
            the `DailyStat` totals are committed together. A connection takes one of
            MAILING_COMMIT_EVERY slots (default 1) before the final "." of DATA and the slot
            comes back when that record is committed, so at most that many sent messages are
            ever unrecorded: all a kill -9 can re-send.
5. Classify 2xx sent; 4xx, timeouts, refused or dropped connections and garbage retried with
            exponential backoff up to MAILING_MAX_TRIES; a 5xx to RCPT TO or the end of DATA
            failed at once. A refused session (greeting, EHLO, STARTTLS, AUTH, MAIL FROM) is
            about us, not the recipient: retried like a 4xx, whatever its code.
6. Recover  `requeue_expired_claims` hands the leases of a dead sender back to the queue.
7. Finish   `finish_completed` closes runs with nothing left and finishes mailings; stop,
            manager disable and owner block go through `cancel_runs`, which turns every
            pending delivery into a failed attempt carrying the reason.

Whether a mailing may start a run at all is decided in one place, `ensure_sendable`, on the
rows `lock_mailing` locks.
"""

import logging
import random
import threading
import time
import uuid
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from . import cache, schedule
from .models import Attempt, DailyStat, Delivery, Mailing, Recipient, Run
from .transport import (
    PERMANENT,
    SUCCESS,
    DjangoBackendTransport,
    RenderedMessage,
    Reply,
    SmtpTransport,
    uses_smtp,
)

logger = logging.getLogger(__name__)

# How often a sender re-reads whether its runs were stopped, and the longest a finished
# record may wait in the buffer before it is committed anyway.
LIVENESS_CHECK_SECONDS = 0.5
MAX_RECORD_DELAY_SECONDS = 1.0

PENDING = Delivery.State.PENDING
CLAIMED = Delivery.State.CLAIMED
SENT = Delivery.State.SENT
FAILED = Delivery.State.FAILED
CANCELLED = Delivery.State.CANCELLED


# --- 1. Due ----------------------------------------------------------------------------------


def start_due_runs(*, now: datetime | None = None) -> list[Run]:
    """Start a run for every mailing whose next occurrence has come; idempotent."""
    now = now or timezone.now()
    due_ids = list(
        Mailing.objects.filter(next_send_at__lte=now, is_disabled=False, owner__is_blocked=False)
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
    if starting:
        # Before the end and status checks: an open run is still delivered after either.
        open_run = _open_run_of(mailing)
        if open_run is not None:
            raise AlreadySending(open_run)
        if mailing.status == Mailing.Status.FINISHED:
            raise CannotSend("This mailing has finished; schedule it to send it again.")
    if mailing.end_at <= now:
        raise CannotSend("This mailing's end has passed; change its end to send it again.")
    if starting and not mailing.recipients.exists():
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
    queued = _enqueue(run=run, now=now) if created else 0
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
        },
    )
    return run


def _enqueue(*, run: Run, now: datetime) -> int:
    """One delivery per recipient of the mailing, in one statement however many there are.

    Raw SQL bypasses the ORM's value conversion, so datetimes are adapted explicitly (SQLite
    compares them as text in Django's format)."""
    delivery = Delivery._meta.db_table
    through = Mailing.recipients.through._meta.db_table
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(delivery)} (run_id, recipient_id, state, tries, next_try_at) "
            f"SELECT %s, recipient_id, %s, 0, %s FROM {qn(through)} WHERE mailing_id = %s "
            "ON CONFLICT (run_id, recipient_id) DO NOTHING",
            [run.pk, PENDING, _db_datetime(now), run.mailing_id],
        )
        return cursor.rowcount


# --- 2. Claim --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    token: uuid.UUID
    run_id: int
    mailing_id: int
    recipient_id: int
    email: str
    full_name: str
    tries: int


def sendable_runs(*, mailing_id: int | None = None) -> QuerySet:
    """Open runs whose deliveries may go out: not cancelled, mailing enabled, owner not blocked."""
    runs = Run.objects.filter(
        finished_at__isnull=True,
        cancelled_at__isnull=True,
        mailing__is_disabled=False,
        mailing__owner__is_blocked=False,
    )
    if mailing_id is not None:
        runs = runs.filter(mailing_id=mailing_id)
    return runs


def claimable(*, now: datetime, mailing_id: int | None = None) -> QuerySet:
    return Delivery.objects.filter(
        run__in=sendable_runs(mailing_id=mailing_id), state=PENDING, next_try_at__lte=now
    )


def claim_batch(
    *, limit: int, lease_seconds: int, mailing_id: int | None = None, now: datetime | None = None
) -> list[Claimed]:
    """Lease up to `limit` due deliveries to the caller; no two callers get the same row.

    The queue is read one run at a time, each through the (run, state, next_try_at, id)
    index, so a claim costs the same at the start and at the end of a 100,000-recipient run
    whatever the planner's statistics say; the runs are taken in random order, so mailings
    sent at the same time share the senders instead of waiting for one another."""
    now = now or timezone.now()
    token = uuid.uuid4()
    run_ids = list(sendable_runs(mailing_id=mailing_id).values_list("pk", flat=True))
    random.shuffle(run_ids)
    with transaction.atomic():
        ids: list[int] = []
        for run_id in run_ids:
            ids += (
                Delivery.objects.filter(run_id=run_id, state=PENDING, next_try_at__lte=now)
                .order_by("next_try_at", "pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[: limit - len(ids)]
            )
            if len(ids) >= limit:
                break
        if not ids:
            return []
        # `state=PENDING` again: on SQLite (no row locks) a rival may have taken some first.
        Delivery.objects.filter(pk__in=ids, state=PENDING).update(
            state=CLAIMED,
            claim_token=token,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
        )
    # Read back by primary key and keep what carries our token: a lookup by token alone
    # could walk every claim ever made until VACUUM clears them from its index.
    rows = (
        Delivery.objects.filter(pk__in=ids)
        .order_by("pk")
        .values_list(
            "claim_token",
            "pk",
            "run_id",
            "run__mailing_id",
            "recipient_id",
            "recipient__email",
            "recipient__full_name",
            "tries",
        )
    )
    return [Claimed(row[1], token, *row[2:]) for row in rows if row[0] == token]


def release(*, claims: Iterable[Claimed]) -> int:
    """Hand unsent claims back to the queue at once (no try is counted)."""
    by_token = defaultdict(list)
    for claim in claims:
        by_token[claim.token].append(claim.delivery_id)
    released = 0
    for token, ids in by_token.items():
        released += Delivery.objects.filter(pk__in=ids, claim_token=token, state=CLAIMED).update(
            state=PENDING, claim_token=None, lease_expires_at=None
        )
    return released


# --- 4 + 5. Record and classify ----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    claim: Claimed
    reply: Reply
    at: datetime


@dataclass
class DeliveryReport:
    """What one `deliver` call did; `sent + failed + deferred` attempts were recorded."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0
    released: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    last_failure: str = ""

    @property
    def attempted(self) -> int:
        return self.sent + self.failed + self.deferred

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        return self.attempted / self.seconds if self.seconds > 0 else 0.0


def _next_state(
    outcome: Outcome, *, max_tries: int, retry_base: int
) -> tuple[str, datetime | None]:
    kind = outcome.reply.kind
    if kind == SUCCESS:
        return SENT, None
    tries = outcome.claim.tries + 1
    if kind == PERMANENT or tries >= max_tries:
        return FAILED, None
    return PENDING, outcome.at + timedelta(seconds=retry_base * 2 ** (tries - 1))


def write_outcomes(outcomes: list[Outcome], *, max_tries: int, retry_base: int) -> dict[str, int]:
    """Commit attempts, delivery states and daily totals for `outcomes` in one transaction."""
    if not outcomes:
        return {}
    try:
        if len(outcomes) == 1:
            state = _record_one_prepared(outcomes[0], max_tries=max_tries, retry_base=retry_base)
            if state is not None:
                return {state: 1}
        return _write_outcomes(outcomes, max_tries=max_tries, retry_base=retry_base)
    except IntegrityError:
        # A recipient or mailing was deleted while its message was in flight: keep every
        # record whose mailing still exists, without the vanished recipient link.
        recipients = set(
            Recipient.objects.filter(pk__in={o.claim.recipient_id for o in outcomes}).values_list(
                "pk", flat=True
            )
        )
        mailings = set(
            Mailing.objects.filter(pk__in={o.claim.mailing_id for o in outcomes}).values_list(
                "pk", flat=True
            )
        )
        kept = [o for o in outcomes if o.claim.mailing_id in mailings]
        return _write_outcomes(
            kept, max_tries=max_tries, retry_base=retry_base, recipients=recipients
        )


def _attempt_row(
    outcome: Outcome,
    *,
    state: str,
    next_try_at: datetime | None,
    max_tries: int,
    recipients: set[int] | None = None,
) -> tuple:
    """The Attempt columns (mailing, recipient, run, email, time, status, reply) of an outcome.

    `recipients`, when given, are the recipients that still exist; others are left out."""
    claim = outcome.claim
    text = str(outcome.reply)
    if state == PENDING:
        retry_at = timezone.localtime(next_try_at)
        text = f"{text} (try {claim.tries + 1} of {max_tries}; next at {retry_at:%H:%M:%S})"
    recipient_id = claim.recipient_id
    if recipients is not None and recipient_id not in recipients:
        recipient_id = None
    return (
        claim.mailing_id,
        recipient_id,
        claim.run_id,
        claim.email,
        _db_datetime(outcome.at),
        Attempt.Status.SUCCESS if state == SENT else Attempt.Status.FAILURE,
        text[:2000],
    )


def _write_outcomes(
    outcomes: list[Outcome],
    *,
    max_tries: int,
    retry_base: int,
    recipients: set[int] | None = None,
) -> dict[str, int]:
    counts = {SENT: 0, FAILED: 0, PENDING: 0}
    attempts: list[tuple] = []
    updates: dict[tuple, list[int]] = defaultdict(list)
    daily: dict[tuple[int, object], list[int]] = defaultdict(lambda: [0, 0])
    for outcome in outcomes:
        claim = outcome.claim
        state, next_try_at = _next_state(outcome, max_tries=max_tries, retry_base=retry_base)
        counts[state] += 1
        success = state == SENT
        attempts.append(
            _attempt_row(
                outcome,
                state=state,
                next_try_at=next_try_at,
                max_tries=max_tries,
                recipients=recipients,
            )
        )
        updates[(claim.token, state, claim.tries + 1, next_try_at)].append(claim.delivery_id)
        daily[(claim.mailing_id, timezone.localdate(outcome.at))][0 if success else 1] += 1

    qn = connection.ops.quote_name
    statements = [
        (
            f"INSERT INTO {qn(Attempt._meta.db_table)} (mailing_id, recipient_id, run_id, email, "
            "attempted_at, status, server_response) VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(attempts)),
            [value for row in attempts for value in row],
        )
    ]
    for (token, state, tries, next_try_at), ids in updates.items():
        retry = ", next_try_at = %s" if next_try_at is not None else ""
        statements.append(
            (
                f"UPDATE {qn(Delivery._meta.db_table)} SET state = %s, tries = %s, "
                f"claim_token = NULL, lease_expires_at = NULL{retry} "
                f"WHERE id IN ({', '.join(['%s'] * len(ids))}) AND claim_token = %s AND state = %s",
                [
                    state,
                    tries,
                    *([_db_datetime(next_try_at)] if next_try_at is not None else []),
                    *ids,
                    _db_token(token),
                    CLAIMED,
                ],
            )
        )
    statements.append(_daily_stats_statement({k: (v[0], v[1]) for k, v in daily.items()}))
    _execute_together(statements)
    return counts


def _record_one_prepared(outcome: Outcome, *, max_tries: int, retry_base: int) -> str | None:
    """PostgreSQL, one outcome (the default: a commit after every message): one prepared
    statement, parsed and planned once per connection, instead of three. The per-message
    commit chain is the sender's critical path, and this takes about 30% off it.

    Returns the delivery's new state, or None where this does not apply (another database,
    or inside a transaction)."""
    if connection.vendor != "postgresql" or not connection.get_autocommit():
        return None
    claim = outcome.claim
    state, next_try_at = _next_state(outcome, max_tries=max_tries, retry_base=retry_base)
    ok = state == SENT
    params = [
        *_attempt_row(outcome, state=state, next_try_at=next_try_at, max_tries=max_tries),
        state,
        claim.tries + 1,
        _db_datetime(next_try_at) if next_try_at is not None else None,
        claim.delivery_id,
        _db_token(claim.token),
        connection.ops.adapt_datefield_value(timezone.localdate(outcome.at)),
        int(ok),
        int(not ok),
    ]
    with connection.cursor() as cursor:
        for last_try in (False, True):
            with _prepared_lock:
                if connection.connection not in _prepared_connections:
                    cursor.execute(_record_one_statement())
                    _prepared_connections.add(connection.connection)
            try:
                cursor.execute(f"EXECUTE {_RECORD_ONE} ({', '.join(['%s'] * 15)})", params)
                break
            except DatabaseError as exc:
                # The server forgot the statement (DISCARD ALL, a pooler handing us another
                # session): prepare it again, once. In autocommit nothing was written.
                if last_try or getattr(exc.__cause__, "pgcode", None) != _UNDEFINED_STATEMENT:
                    raise
                with _prepared_lock:
                    _prepared_connections.discard(connection.connection)
    return state


_RECORD_ONE = "mailing_record_one"
_UNDEFINED_STATEMENT = "26000"  # SQLSTATE of "prepared statement … does not exist"
_prepared_lock = threading.Lock()
# The DB-API connections that hold the statement (a reconnect needs it prepared again).
_prepared_connections: "weakref.WeakSet" = weakref.WeakSet()


def _record_one_statement() -> str:
    qn = connection.ops.quote_name
    return (
        f"PREPARE {_RECORD_ONE} (bigint, bigint, bigint, varchar, timestamptz, varchar, text, "
        "varchar, integer, timestamptz, bigint, uuid, date, integer, integer) AS "
        f"WITH attempt AS (INSERT INTO {qn(Attempt._meta.db_table)} (mailing_id, recipient_id, "
        "run_id, email, attempted_at, status, server_response) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)), "
        f"delivery AS (UPDATE {qn(Delivery._meta.db_table)} SET state = $8, tries = $9, "
        "claim_token = NULL, lease_expires_at = NULL, next_try_at = COALESCE($10, next_try_at) "
        f"WHERE id = $11 AND claim_token = $12 AND state = '{CLAIMED}') "
        f"INSERT INTO {qn(DailyStat._meta.db_table)} (mailing_id, day, successes, failures) "
        f"VALUES ($1, $13, $14, $15) {_daily_stats_conflict()}"
    )


def _execute_together(statements: list[tuple[str, list]]) -> None:
    """Run statements as one transaction, in one round trip where the database allows it.

    PostgreSQL runs a multi-statement query as a single implicit transaction, so recording a
    message costs one round trip (and one commit) instead of five; this is what lets records be
    committed after every message at speed. Inside an outer transaction (or on SQLite, whose
    driver takes one statement per call) the statements run one by one in a transaction."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and connection.get_autocommit():
            cursor.execute(
                ";\n".join(connection.ops.compose_sql(sql, params) for sql, params in statements)
            )
            return
        with transaction.atomic():
            for sql, params in statements:
                cursor.execute(sql, params)


def _db_datetime(value: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(value)


def _db_token(value: uuid.UUID) -> object:
    return Delivery._meta.get_field("claim_token").get_db_prep_value(value, connection)


def add_daily_stats(totals: dict[tuple[int, object], tuple[int, int]]) -> None:
    """Add (successes, failures) to each (mailing_id, day) row in one upsert."""
    if totals:
        with connection.cursor() as cursor:
            cursor.execute(*_daily_stats_statement(totals))


def _daily_stats_conflict() -> str:
    table = connection.ops.quote_name(DailyStat._meta.db_table)
    return (
        "ON CONFLICT (mailing_id, day) DO UPDATE SET "
        f"successes = {table}.successes + excluded.successes, "
        f"failures = {table}.failures + excluded.failures"
    )


def _daily_stats_statement(totals: dict[tuple[int, object], tuple[int, int]]) -> tuple[str, list]:
    table = connection.ops.quote_name(DailyStat._meta.db_table)
    adapt_day = connection.ops.adapt_datefield_value
    return (
        f"INSERT INTO {table} (mailing_id, day, successes, failures) VALUES "
        + ", ".join(["(%s, %s, %s, %s)"] * len(totals))
        + f" {_daily_stats_conflict()}",
        [
            value
            for (mailing_id, day), (ok, bad) in totals.items()
            for value in (mailing_id, adapt_day(day), ok, bad)
        ],
    )


class Recorder:
    """The commit point shared by a sender's connections.

    A message is ambiguous from the moment its final "." is sent until its outcome is
    committed: a crash in between may send it twice. The recorder hands out
    MAILING_COMMIT_EVERY *slots* for that window; a connection takes one before the dot and
    the slot comes back only when the outcome is committed. So at any instant at most that
    many sent messages are unrecorded, while several connections still overlap their round
    trips.

    Outcomes are committed in groups of half the slots, by the thread that completes the
    group, on its own database connection and outside the buffer's lock: while one group is
    being committed the other half of the slots keep messages moving, and other groups may
    commit at the same time. No record waits much longer than MAX_RECORD_DELAY_SECONDS for
    its group: `add` and every liveness check of a sender commit an older buffer, and while
    all senders wait on a slow server `_StaleRecordFlusher` does.
    """

    def __init__(self, *, report: DeliveryReport, on_progress: Callable | None) -> None:
        self.report = report
        self.commit_every = max(1, settings.MAILING_COMMIT_EVERY)
        self.group_size = max(1, self.commit_every // 2)
        self.max_tries = max(1, settings.MAILING_MAX_TRIES)
        self.retry_base = settings.MAILING_RETRY_BASE_SECONDS
        self._on_progress = on_progress
        self._slots = threading.Semaphore(self.commit_every)
        self._lock = threading.Lock()  # guards the buffer and the report
        self._buffer: list[Outcome] = []
        self._slots_in_buffer = 0
        self._oldest = 0.0

    def take_slot(self) -> None:
        """Before a final dot: wait for one of the MAILING_COMMIT_EVERY ambiguity slots.

        `add(..., slot=True)` hands the slot to the buffer, which gives it back once the
        outcome is committed; `give_back_slot` returns it if nothing was sent after all."""
        self._slots.acquire()

    def give_back_slot(self) -> None:
        self._slots.release()

    def add(self, outcomes: list[Outcome], *, slot: bool = False) -> None:
        """Buffer outcomes (with the slot their send held, if any); commit a full group."""
        with self._lock:
            if not self._buffer:
                self._oldest = time.monotonic()
            self._buffer.extend(outcomes)
            self._slots_in_buffer += int(slot)
            for outcome in outcomes:
                if outcome.reply.kind != SUCCESS:
                    self.report.last_failure = str(outcome.reply)
            if (
                len(self._buffer) < self.group_size
                and time.monotonic() - self._oldest < MAX_RECORD_DELAY_SECONDS
            ):
                return
            group, slots = self._take_group()
        self._commit(group, slots)

    def flush(self) -> None:
        with self._lock:
            group, slots = self._take_group()
        self._commit(group, slots)

    def flush_stale(self) -> None:
        """Commit the buffer if its oldest record has waited MAX_RECORD_DELAY_SECONDS."""
        with self._lock:
            if not self._buffer or time.monotonic() - self._oldest < MAX_RECORD_DELAY_SECONDS:
                return
            group, slots = self._take_group()
        self._commit(group, slots)

    def count_released(self, count: int) -> None:
        with self._lock:
            self.report.released += count

    def _take_group(self) -> tuple[list[Outcome], int]:
        group, self._buffer = self._buffer, []
        slots, self._slots_in_buffer = self._slots_in_buffer, 0
        return group, slots

    def _commit(self, group: list[Outcome], slots: int) -> None:
        """Write a group (retrying a failing database briefly), then free its slots."""
        if not group:
            return
        try:
            for attempt in range(3):
                try:
                    counts = write_outcomes(
                        group, max_tries=self.max_tries, retry_base=self.retry_base
                    )
                    break
                except Exception:
                    if attempt == 2:
                        # The claims stay leased: after the lease another sender re-sends them.
                        logger.exception("delivery.record_failed", extra={"count": len(group)})
                        raise
                    time.sleep(0.5 * (attempt + 1))
        finally:
            for _ in range(slots):
                self._slots.release()
        with self._lock:
            self.report.sent += counts.get(SENT, 0)
            self.report.failed += counts.get(FAILED, 0)
            self.report.deferred += counts.get(PENDING, 0)
            if self._on_progress is not None:
                self._on_progress(self.report)


# --- 3. Send ---------------------------------------------------------------------------------

# Set by a process that is shutting down (SIGTERM): senders finish the message in hand, hand
# the rest of their claims back to the queue and return.
stop_requested = threading.Event()


def deliver(
    *,
    mailing_id: int | None = None,
    connections: int | None = None,
    on_progress: Callable[[DeliveryReport], None] | None = None,
) -> DeliveryReport:
    """Send everything claimable now (optionally of one mailing) and return what happened."""
    report = DeliveryReport()
    recorder = Recorder(report=report, on_progress=on_progress)
    # Only MAILING_COMMIT_EVERY messages can be between their final dot and their record at
    # once; two connections per slot keep every slot busy (one in its final step, one with
    # MAIL/RCPT/DATA done and waiting). More would only wait, and their threads' wake-ups
    # slow the one that holds the slot (on loopback: 690 msg/s with 2, 480 with 8, at K=1).
    connections = min(connections or settings.MAILING_SENDER_CONNECTIONS, 2 * recorder.commit_every)
    if connection.vendor == "sqlite":
        connections = 1  # one writer at a time; more threads would only queue on the lock
    messages = _MessageCache()
    # Records are grouped only when MAILING_COMMIT_EVERY > 3. The flusher has a connection of
    # its own, so it cannot see (or wait behind) what a caller's open transaction holds.
    flusher = (
        _StaleRecordFlusher(recorder)
        if recorder.group_size > 1 and not connection.in_atomic_block
        else None
    )
    try:
        if connections <= 1:
            _Worker(recorder=recorder, messages=messages, mailing_id=mailing_id).run()
        else:
            _run_in_threads(
                [
                    _Worker(
                        recorder=recorder, messages=messages, mailing_id=mailing_id, own_thread=True
                    )
                    for _ in range(connections)
                ]
            )
    finally:
        if flusher is not None:
            flusher.stop()
        # Whatever happened (Ctrl+C included), what was sent gets recorded.
        recorder.flush()
        report.finished = time.monotonic()
    return report


def _run_in_threads(workers: list["_Worker"]) -> None:
    threads = [threading.Thread(target=w.run, name=f"sender-{i}") for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        # Let each connection finish the message in hand and hand its claims back.
        stop_requested.set()
        for thread in threads:
            thread.join()
        raise
    errors = [w.error for w in workers if w.error is not None]
    if errors:
        raise errors[0]


class _StaleRecordFlusher:
    """Commits buffered records that have waited MAX_RECORD_DELAY_SECONDS.

    A record is otherwise committed by a later `add` or a sender's liveness check; while
    every connection waits on a slow server neither comes, and finished records (with the
    slots they hold) would wait as long as the server does."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="record-flusher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._done.wait(LIVENESS_CHECK_SECONDS):
                try:
                    self._recorder.flush_stale()
                except Exception:
                    # The recorder logged why; the claims stay leased and the senders meet
                    # the same fault. Keep flushing: the database may come back.
                    logger.warning("delivery.stale_flush_failed")
        finally:
            connection.close()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


class _MessageCache:
    """Renders each run's message once per `deliver` call, shared by its threads.

    A run whose message cannot be built (a subject with a line break written straight to the
    database) gets a final failure in its place, which each of its deliveries records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: dict[int, RenderedMessage | Reply] = {}

    def get(self, run_ids: set[int]) -> dict[int, RenderedMessage | Reply]:
        with self._lock:
            missing = run_ids - self._messages.keys()
            if missing:
                for run in Run.objects.filter(pk__in=missing).select_related(
                    "mailing__message", "mailing__owner"
                ):
                    self._messages[run.pk] = _render(run)
            return {
                run_id: self._messages[run_id] for run_id in run_ids if run_id in self._messages
            }


def _render(run: Run) -> RenderedMessage | Reply:
    try:
        return RenderedMessage(
            subject=run.mailing.message.subject,
            body=run.mailing.message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            reply_to=run.mailing.owner.email,
            run_id=run.pk,
        )
    except Exception as exc:  # whatever the email package refuses, no retry will fix
        logger.error("delivery.message_unbuildable", extra={"run_id": run.pk, "error": str(exc)})
        return Reply(0, f"Not sent: the message cannot be built ({exc})", final=True)


class _Worker:
    """One SMTP connection: claims a batch, sends it, repeats until the queue is empty."""

    def __init__(
        self,
        *,
        recorder: Recorder,
        messages: _MessageCache,
        mailing_id: int | None,
        own_thread: bool = False,
    ) -> None:
        self.recorder = recorder
        self.messages = messages
        self.mailing_id = mailing_id
        self.own_thread = own_thread
        self.error: BaseException | None = None
        self.transport = SmtpTransport() if uses_smtp() else DjangoBackendTransport()
        self.lease = settings.MAILING_CLAIM_LEASE_SECONDS
        self.batch_size = settings.MAILING_BATCH_SIZE

    def run(self) -> None:
        try:
            while not stop_requested.is_set():
                leased_at = _Mark()  # taken before the lease starts, so never later than it
                batch = claim_batch(
                    limit=self.batch_size, lease_seconds=self.lease, mailing_id=self.mailing_id
                )
                if not batch:
                    return
                self._send_batch(batch, leased_at=leased_at)
        except BaseException as exc:
            logger.exception("delivery.worker_failed")
            self.error = exc
            if not self.own_thread:
                raise
        finally:
            self.transport.close()
            if self.own_thread:
                connection.close()

    def _send_batch(self, batch: list[Claimed], *, leased_at: "_Mark | None" = None) -> None:
        token = batch[0].token
        run_ids = {claim.run_id for claim in batch}
        held = {claim.delivery_id for claim in batch}
        renewed = leased_at or _Mark()
        checked: _Mark | None = None
        live_runs: set[int] = set()
        rendered: dict[int, RenderedMessage | Reply] = {}
        stopped: list[Claimed] = []
        unsent: list[Outcome] = []  # outcomes of claims that were never put on the wire
        unreachable: Reply | None = None
        done = 0
        try:
            rendered = self.messages.get(run_ids)
            for claim in batch:
                if stop_requested.is_set():
                    break
                if checked is None or checked.elapsed() >= LIVENESS_CHECK_SECONDS:
                    checked = _Mark()
                    live_runs = set(
                        Run.objects.filter(pk__in=run_ids, cancelled_at__isnull=True).values_list(
                            "pk", flat=True
                        )
                    )
                    # Due every third of the lease; a stall long enough to lose the lease is
                    # longer than that, so it is due at the first check after one.
                    if renewed.elapsed() > self.lease / 3:
                        renewed = _Mark()
                        still_ours = self._renew_lease(token)
                        ahead = {c.delivery_id for c in batch[done:]} & held
                        if ahead - still_ours:
                            logger.warning(
                                "delivery.claims_lost", extra={"count": len(ahead - still_ours)}
                            )
                        # Recorded claims are no longer claimed either; they are behind us.
                        held &= still_ours
                    self.recorder.flush_stale()
                if claim.delivery_id not in held:
                    # Requeued while this sender stalled, and taken by another: not ours to
                    # send, nor to hand back.
                    done += 1
                    continue
                message = rendered.get(claim.run_id)
                if claim.run_id not in live_runs or message is None:
                    stopped.append(claim)
                    done += 1
                    continue
                if isinstance(message, Reply):  # the message cannot be built
                    unsent.append(Outcome(claim, message, timezone.now()))
                    done += 1
                    continue
                if unreachable is None:
                    unreachable = self.transport.open()
                    if unreachable is not None:
                        logger.warning("delivery.connect_failed", extra={"reply": str(unreachable)})
                if unreachable is not None:
                    # The server cannot be reached: that is this try for the rest of the batch.
                    unsent.append(Outcome(claim, unreachable, timezone.now()))
                    done += 1
                    continue
                self._send_one(claim, message)
                done += 1
            # Only what is still ours: a stall may have cost claims collected before it.
            self.recorder.add([o for o in unsent if o.claim.delivery_id in held])
            unsent = []
        finally:
            # Whatever this batch did not get to goes back to the queue without waiting for
            # the lease: claims we stopped on, and the rest if something went wrong (but not
            # the ones another sender holds now).
            leftovers = stopped + [c for c in batch[done:] if c.delivery_id in held]
            leftovers += [outcome.claim for outcome in unsent]
            if leftovers:
                self.recorder.count_released(release(claims=leftovers))
                cancelled = {c.run_id for c in stopped}
                if cancelled:
                    sweep_cancelled_runs(run_ids=cancelled)

    def _send_one(self, claim: Claimed, message: RenderedMessage) -> None:
        refusal = self.transport.begin(
            message, delivery_id=claim.delivery_id, email=claim.email, full_name=claim.full_name
        )
        if refusal is not None:
            # Refused before the end of DATA: not sent, so nothing ambiguous to bound.
            self.recorder.add([Outcome(claim, refusal, timezone.now())])
            return
        self.recorder.take_slot()
        try:
            reply = self.transport.commit()
        except BaseException:
            self.recorder.give_back_slot()
            raise
        self.recorder.add([Outcome(claim, reply, timezone.now())], slot=True)

    def _renew_lease(self, token: uuid.UUID) -> set[int]:
        """Extend the lease of this batch; returns the ids of the claims still ours.

        A sender that stalled past its lease (SIGSTOP, a paused VM, a database that hung) may
        have had its claims requeued and taken by another sender meanwhile."""
        table = connection.ops.quote_name(Delivery._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET lease_expires_at = %s "
                "WHERE claim_token = %s AND state = %s RETURNING id",
                [
                    _db_datetime(timezone.now() + timedelta(seconds=self.lease)),
                    _db_token(token),
                    CLAIMED,
                ],
            )
            return {row[0] for row in cursor.fetchall()}


class _Mark:
    """An instant, on both clocks: the monotonic one cannot be stepped, but a paused VM may
    not advance it; the wall clock sees the pause but may be stepped. Time since a mark is
    the larger of the two."""

    def __init__(self) -> None:
        self._monotonic, self._wall = time.monotonic(), time.time()

    def elapsed(self) -> float:
        return max(time.monotonic() - self._monotonic, abs(time.time() - self._wall))


# --- 6. Recover ------------------------------------------------------------------------------


def requeue_expired_claims(*, now: datetime | None = None, mailing_id: int | None = None) -> int:
    """Claims whose sender stopped renewing its lease (it died) go back to pending."""
    now = now or timezone.now()
    expired = Delivery.objects.filter(state=CLAIMED, lease_expires_at__lt=now)
    if mailing_id is not None:
        expired = expired.filter(run__mailing_id=mailing_id)
    count = expired.update(state=PENDING, claim_token=None, lease_expires_at=None)
    if count:
        logger.warning("delivery.claims_requeued", extra={"count": count})
    return count


# --- 7. Finish and cancel ----------------------------------------------------------------------


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
    ending = Mailing.objects.exclude(status=Mailing.Status.FINISHED).filter(
        ~Exists(still_open), Q(next_send_at__isnull=True) | Q(end_at__lte=now)
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
        _record_cancellations(marker=marker, now=now, reason=reason)
        # The marker has done its job; left there it would stay in the live-claims index.
        Delivery.objects.filter(claim_token=marker).update(claim_token=None)
    return count


def _record_cancellations(*, marker: uuid.UUID, now: datetime, reason: str | None) -> None:
    qn = connection.ops.quote_name
    attempt, delivery = qn(Attempt._meta.db_table), qn(Delivery._meta.db_table)
    run, recipient = qn(Run._meta.db_table), qn(Recipient._meta.db_table)
    marker_value = _db_token(marker)
    response, response_params = "'Not sent: ' || r.cancel_reason", []
    if reason is not None:
        response, response_params = "%s", [f"Not sent: {reason}"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {attempt} "
            "(mailing_id, recipient_id, run_id, email, attempted_at, status, server_response) "
            f"SELECT r.mailing_id, d.recipient_id, d.run_id, rc.email, %s, %s, {response} "
            f"FROM {delivery} d JOIN {run} r ON r.id = d.run_id "
            f"JOIN {recipient} rc ON rc.id = d.recipient_id WHERE d.claim_token = %s",
            [_db_datetime(now), Attempt.Status.FAILURE, *response_params, marker_value],
        )
        cursor.execute(
            f"SELECT r.mailing_id, COUNT(*) FROM {delivery} d JOIN {run} r ON r.id = d.run_id "
            "WHERE d.claim_token = %s GROUP BY r.mailing_id",
            [marker_value],
        )
        day = timezone.localdate(now)
        add_daily_stats({(mailing_id, day): (0, count) for mailing_id, count in cursor.fetchall()})
