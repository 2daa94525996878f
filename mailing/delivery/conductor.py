"""One delivery pass: `deliver()` claims what is due, runs the sender, records what it did.

The calling thread does everything, in turns: the sender's event loop runs until it needs
something (a group to record, more claims, claims to hand back) or a liveness check is due,
then the conductor does that database work on the caller's own connection (inside a caller's
transaction everything stays in it; SQLite keeps one writer) and runs the loop again.

Every LIVENESS_CHECK_SECONDS the conductor re-reads which of the claimed runs may still send
(`sendable_runs`: the claims of stopped, disabled or blocked ones are handed back and swept)
and, every third of the lease, renews the leases and tells the sender which claims it lost
while it stalled. Between turns it also lets the throttle talk to its shared state
(`Throttle.refresh`).

The two slow database calls do not stop the loop: claims, and with MAILING_COMMIT_EVERY > 1 the
groups' records, run in `Database`, a thread of its own on the same database connection
(never at the same time as the conductor, which waits for it before any other query), while
the loop goes on sending (with the other half of its slots while a group is written). With a
commit per message the record is on the critical path of every message (dot, reply, commit,
next dot) and is written directly, without a hand-off.
"""

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.db import connection

from ..content import PreparedMessage, prepare
from ..models import Run
from ..transport import Reply, uses_smtp
from .database import Database, write_group, write_with_retries
from .policy import FAILED, RETRY, SENT, Policy
from .queue import Claimed, claim_batch, defer, release, renew_leases
from .records import Outcome
from .runs import sendable_runs, sweep_cancelled_runs
from .sender import LIVENESS_CHECK_SECONDS, Mark, Sender, stop_requested

logger = logging.getLogger("mailing.delivery")


@dataclass
class DeliveryReport:
    """What one `deliver` call did; `sent + failed + deferred` attempts were recorded."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0  # tried, and queued again for a retry
    released: int = 0  # handed back untried (a stop, a cancelled run)
    postponed: int = 0  # handed back untried, due later (the throttle)
    # Filled in by `send_mailing`: how many deliveries it found to do, and whether it started
    # the run (or continued an open one).
    expected: int = 0
    started_run: bool = False
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

    def add(self, other: "DeliveryReport") -> None:
        for name in ("sent", "failed", "deferred", "released", "postponed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.last_failure = other.last_failure or self.last_failure


def deliver(
    *,
    mailing_id: int | None = None,
    connections: int | None = None,
    on_progress: Callable[[DeliveryReport], None] | None = None,
    claims: Iterable[Claimed] | None = None,
    policy: Policy | None = None,
) -> DeliveryReport:
    """Send everything claimable now (optionally of one mailing) and return what happened.

    `claims` sends exactly those deliveries (claimed elsewhere with `claim_batch`) instead of
    claiming; `policy` replaces the one built from settings."""
    return _Conductor(
        mailing_id=mailing_id,
        connections=connections,
        on_progress=on_progress,
        policy=policy or Policy.from_settings(),
    ).run(None if claims is None else list(claims))


class _Conductor:
    def __init__(
        self,
        *,
        mailing_id: int | None,
        connections: int | None,
        on_progress: Callable[[DeliveryReport], None] | None,
        policy: Policy,
    ) -> None:
        self.report = DeliveryReport()
        self.mailing_id = mailing_id
        self.on_progress = on_progress
        self.policy = policy
        self.commit_every = max(1, settings.MAILING_COMMIT_EVERY)
        self.batch_size = max(1, settings.MAILING_BATCH_SIZE)
        self.lease = settings.MAILING_CLAIM_LEASE_SECONDS
        # Only MAILING_COMMIT_EVERY messages can be between their final dot and their record
        # at once; two connections per slot keep every slot busy (one in its final step, one
        # with MAIL/RCPT/DATA done and waiting). More would only wait.
        self.connections = min(
            connections or settings.MAILING_SENDER_CONNECTIONS, 2 * self.commit_every
        )
        if connection.vendor == "sqlite":
            self.connections = 1  # one writer at a time
        self.connections = max(1, self.connections)
        self.held: dict[int, Claimed] = {}  # given to the sender, neither recorded nor handed back
        self.messages: dict[int, PreparedMessage | Reply] = {}
        self.given = False
        self.renewed = Mark()
        self.sender: Sender | None = None
        self.db: Database | None = None  # on the caller's connection: records, and claims
        self.claims_db: Database | None = None  # claims, on a connection of its own if it may

    def run(self, claims: list[Claimed] | None) -> DeliveryReport:
        try:
            checked: Mark | None = None
            if claims is None:
                checked = Mark()  # the claim reads `sendable_runs`: as good as a check
                claims, messages = _claim(self.batch_size, self.lease, self.mailing_id, set())
            else:
                self.given = True
                messages = _prepare_messages({claim.run_id for claim in claims})
            self._hold(claims, messages)
            if claims:
                self._serve(claims, checked)
        finally:
            self.report.finished = time.monotonic()
        return self.report

    def _serve(self, claims: list[Claimed], checked: Mark | None) -> None:
        self.sender = sender = Sender(
            policy=self.policy,
            connections=self.connections,
            slots=self.commit_every,
            # Half the slots: one group fills while the one before it is written.
            group_size=max(1, self.commit_every // 2),
            smtp=uses_smtp(),
            low_water=max(2 * self.connections, self.batch_size // 2),
        )
        sender.start(claims, self.messages, checked)
        self.db = Database(on_done=sender.wake_threadsafe)
        # Outside a caller's transaction (the senders' processes) claims have a connection of
        # their own, so that a claim and a group's record are written at the same time.
        if connection.vendor != "sqlite" and connection.get_autocommit():
            self.claims_db = Database(on_done=sender.wake_threadsafe, own_connection=True)
        try:
            if checked is None:
                self._check()
            error = self._pump()
            self._quiet(everything=True)
        except BaseException:
            # Ctrl+C twice, or the database gone: what is in flight still finishes and what
            # can be recorded is; the claims left stay leased until another sender takes over.
            sender.stop()
            self._drain()
            raise
        finally:
            for worker in (self.claims_db, self.db):
                if worker is not None:
                    worker.close()
            sender.close()
        self._hand_back(list(self.held.values()))
        self.policy.throttle.close()  # the day's budget it reserved and did not use
        if error is not None:
            raise error

    def _pump(self) -> BaseException | None:
        """Give the sender turns until it is done; returns the error it ended with, if any."""
        sender = self.sender
        assert sender is not None
        refresh = self.policy.throttle.refresh
        due = time.monotonic() + LIVENESS_CHECK_SECONDS
        while True:
            for kind, *args in sender.turn(max(0.0, due - time.monotonic())):
                if kind == "done":
                    return args[0]
                self._handle(kind, *args)
            self._collect()
            if stop_requested.is_set():
                sender.stop()
            refresh()
            if time.monotonic() >= due:
                self._check()
                due = time.monotonic() + LIVENESS_CHECK_SECONDS

    def _drain(self) -> None:
        """After an error: record what the sender still reports, until it is done."""
        sender = self.sender
        assert sender is not None
        for worker in (self.claims_db, self.db):
            if worker is not None:
                worker.close()  # what they hold is written (or logged as lost) first
        self.db = self.claims_db = None
        while True:
            for kind, *args in sender.turn(LIVENESS_CHECK_SECONDS):
                if kind == "done":
                    return
                if kind in ("record", "release", "stopped"):
                    try:
                        self._handle(kind, *args)
                    except Exception:
                        logger.exception("delivery.record_failed", extra={"count": len(args[0])})

    def _handle(self, kind: str, *args) -> None:
        sender = self.sender
        assert sender is not None
        if kind == "record":
            outcomes, slots = args
            if self.db is not None and self.commit_every > 1:
                self.db.submit(
                    partial(write_group, sender, outcomes, slots),
                    partial(self._recorded, outcomes),
                )
            else:
                self._quiet()
                counts = write_with_retries(outcomes)
                sender.committed(slots)
                self._recorded(outcomes, counts)
        elif kind == "more":
            if self.given or stop_requested.is_set() or self.db is None:
                sender.feed([], {}, exhausted=True)
            else:
                job = partial(
                    _claim, self.batch_size, self.lease, self.mailing_id, set(self.messages)
                )
                (self.claims_db or self.db).submit(job, self._claimed)
        else:
            self._quiet()
            if kind == "release":
                self._hand_back(args[0])
            elif kind == "stopped":
                self._hand_back(args[0])
                sweep_cancelled_runs(run_ids={claim.run_id for claim in args[0]})
            elif kind == "defer":
                claims, until = args
                self._forget(claims)
                self.report.postponed += defer(claims=claims, until=until)

    # -- claims --------------------------------------------------------------------------------

    def _claimed(self, result: tuple[list[Claimed], dict[int, PreparedMessage | Reply]]) -> None:
        claims, messages = result
        self._hold(claims, messages)
        self.sender.feed(claims, messages, exhausted=not claims)  # type: ignore[union-attr]

    def _hold(self, claims: list[Claimed], messages: dict[int, PreparedMessage | Reply]) -> None:
        self.messages.update(messages)
        for claim in claims:
            self.held[claim.delivery_id] = claim

    def _forget(self, claims: Iterable[Claimed]) -> None:
        for claim in claims:
            self.held.pop(claim.delivery_id, None)

    def _hand_back(self, claims: list[Claimed]) -> None:
        claims = [claim for claim in claims if claim.delivery_id in self.held]
        if claims:
            self._forget(claims)
            self.report.released += release(claims=claims)

    def _check(self) -> None:
        """Which claimed runs may still send, and (every third of the lease) which claims are
        still ours; the sender acts on both before it starts another message."""
        self._quiet()
        mark = Mark()
        run_ids = {claim.run_id for claim in self.held.values()}
        live = set(sendable_runs().filter(pk__in=run_ids).values_list("pk", flat=True))
        lost: set[int] = set()
        # Due every third of the lease; a stall long enough to lose the lease is longer than
        # that, so it is due at the first check after one.
        if self.renewed.elapsed() > self.lease / 3:
            self.renewed = Mark()
            ours = renew_leases(
                tokens={claim.token for claim in self.held.values()}, lease_seconds=self.lease
            )
            lost = set(self.held) - ours
            if lost:
                logger.warning("delivery.claims_lost", extra={"count": len(lost)})
                self._forget([self.held[delivery_id] for delivery_id in lost])
        self.sender.checked(mark, live_runs=live, lost=lost)  # type: ignore[union-attr]

    # -- records -------------------------------------------------------------------------------

    def _collect(self) -> None:
        """Take in what the database threads have finished since."""
        for worker in (self.db, self.claims_db):
            if worker is not None:
                worker.collect()

    def _quiet(self, *, everything: bool = False) -> None:
        """Wait until the thread on the caller's connection is idle (the connection is the
        conductor's again), and with `everything` the claims' thread too."""
        for worker in (self.db, self.claims_db if everything else None):
            if worker is not None:
                worker.wait()
        self._collect()

    def _recorded(self, outcomes: list[Outcome], counts: dict[str, int]) -> None:
        self._forget(outcome.claim for outcome in outcomes)
        report = self.report
        report.sent += counts.get(SENT, 0)
        report.failed += counts.get(FAILED, 0)
        report.deferred += counts.get(RETRY, 0)
        for outcome in outcomes:
            if not outcome.decision.ok:
                report.last_failure = str(outcome.reply)
        if self.on_progress is not None:
            self.on_progress(report)


def _claim(
    limit: int, lease: int, mailing_id: int | None, known_runs: set[int]
) -> tuple[list[Claimed], dict[int, PreparedMessage | Reply]]:
    """A batch of claims, and the prepared messages of the runs in it not in `known_runs`."""
    claims = claim_batch(limit=limit, lease_seconds=lease, mailing_id=mailing_id)
    return claims, _prepare_messages({claim.run_id for claim in claims} - known_runs)


def _prepare_messages(run_ids: set[int]) -> dict[int, PreparedMessage | Reply]:
    """Each run's message, prepared once per pass. A run whose message cannot be built gets a
    final failure in its place, which each of its deliveries records."""
    messages: dict[int, PreparedMessage | Reply] = {}
    if run_ids:
        for run in Run.objects.filter(pk__in=run_ids).select_related(
            "mailing__message", "mailing__owner"
        ):
            try:
                messages[run.pk] = prepare(run)
            except Exception as exc:  # whatever the content layer refuses, no retry fixes
                logger.error(
                    "delivery.message_unbuildable", extra={"run_id": run.pk, "error": str(exc)}
                )
                messages[run.pk] = Reply(
                    0, f"Not sent: the message cannot be built ({exc})", final=True
                )
    return messages
