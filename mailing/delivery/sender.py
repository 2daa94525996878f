"""The sender: one asyncio event loop driving many SMTP connections over a shared feed of
claims. It never touches the database: it runs in turns, in the conductor's thread
(`conductor.py`), and a turn ends as soon as it needs the conductor (a group to record, more
claims, claims to hand back) or the next liveness check is due. Between turns the conductor
does the database work on the caller's own connection; meanwhile the servers' replies wait in
the sockets, and the next turn takes them all at once. One thread: no interpreter-lock
hand-offs, and Django's ORM is never called while a loop is running.

Per message, in a turn: take the next claim (only while the last liveness check is fresh), ask
the policy's throttle, render the recipient's bytes (`mailing.content`), MAIL/RCPT/DATA, take
one of MAILING_COMMIT_EVERY *slots*, send the body and its final dot, judge the reply
(`Policy.judge`) and add the outcome to the commit group. A slot comes back only when the
conductor has committed the outcome that holds it, so at any instant at most
MAILING_COMMIT_EVERY sent messages are unrecorded (all that a kill -9 can re-send) while many
connections overlap their round trips. A group is handed over when it holds every slot, or
when its oldest outcome has waited MAX_RECORD_DELAY_SECONDS (the watchdog, which also gives up
on replies that are overdue).
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict, deque
from datetime import datetime

from django.utils import timezone

from ..content import PreparedMessage, RecipientContext
from ..transport import DjangoBackendConnection, Reply, SmtpConnection, address_refusal
from .policy import Hold, Policy
from .queue import Claimed
from .records import Outcome

logger = logging.getLogger("mailing.delivery")

# How often the conductor re-reads whether the claimed runs may still send (and renews the
# leases when a third of them has passed); a sender starts no message while the last check is
# older than LIVENESS_GATE_SECONDS, so after a stall it first learns what it lost meanwhile.
LIVENESS_CHECK_SECONDS = 0.5
LIVENESS_GATE_SECONDS = 2 * LIVENESS_CHECK_SECONDS
# The longest a finished record waits for the rest of its group.
MAX_RECORD_DELAY_SECONDS = 1.0
# How often the watchdog looks at deadlines, stale groups and the stop flag.
WATCHDOG_SECONDS = 0.1

# Set by a process that is shutting down (SIGTERM): senders finish the message in hand, hand
# the rest of their claims back to the queue and return.
stop_requested = threading.Event()


class Mark:
    """An instant, on both clocks: the monotonic one cannot be stepped, but a paused VM may
    not advance it; the wall clock sees the pause but may be stepped. Time since a mark is
    the larger of the two."""

    __slots__ = ("_monotonic", "_wall")

    def __init__(self) -> None:
        self._monotonic, self._wall = time.monotonic(), time.time()

    def elapsed(self) -> float:
        return max(time.monotonic() - self._monotonic, abs(time.time() - self._wall))


class Sender:
    """The SMTP side of one delivery pass. Methods without a leading underscore are called
    from the conductor's thread; everything else runs on the sender's own loop."""

    def __init__(
        self,
        *,
        policy: Policy,
        connections: int,
        slots: int,
        group_size: int,
        smtp: bool,
        low_water: int,
    ) -> None:
        self._judge = policy.judge
        self._reserve = policy.throttle.reserve
        self._connection_count = connections
        self._smtp = smtp
        self._outbox: list[tuple] = []
        self._low_water = low_water
        self._slots = slots
        self._group_size = group_size
        self._feed: deque[Claimed] = deque()
        self._messages: dict[int, PreparedMessage | Reply] = {}
        self._exhausted = False
        self._asked = False
        self._stopping = False
        self._checked: Mark | None = None
        self._ramped = False
        self._slot_waiters: deque[asyncio.Future] = deque()
        self._group: list[Outcome] = []
        self._group_slots = 0
        self._group_since = 0.0
        self._deferrals: dict[datetime, list[Claimed]] = defaultdict(list)
        self._unsent: list[Claimed] = []
        self._connections: list[SmtpConnection | DjangoBackendConnection] = []
        self._loop = asyncio.new_event_loop()
        self._changed = asyncio.Event()
        self._turn: asyncio.Future | None = None
        self._task: asyncio.Task | None = None

    # -- called by the conductor, between turns --------------------------------------------

    def start(
        self,
        claims: list[Claimed],
        messages: dict[int, PreparedMessage | Reply],
        checked: Mark | None,
    ) -> None:
        self._feed.extend(claims)
        self._messages.update(messages)
        self._checked = checked
        self._task = self._loop.create_task(self._main())

    def turn(self, timeout: float) -> list[tuple]:
        """Run the loop until the sender needs the conductor, or for `timeout` seconds; returns
        what it asks for: ("record", outcomes, slots), ("more",), ("stopped", claims),
        ("release", claims), ("defer", claims, until) and, last, ("done", error)."""
        if not self._outbox:
            loop = self._loop
            self._turn = turn = loop.create_future()
            timer = loop.call_later(timeout, _end_turn, turn)
            try:
                loop.run_until_complete(turn)
            finally:
                timer.cancel()
                self._turn = None
        items, self._outbox = self._outbox, []
        return items

    def feed(
        self,
        claims: list[Claimed],
        messages: dict[int, PreparedMessage | Reply],
        *,
        exhausted: bool,
    ) -> None:
        self._asked = False
        self._feed.extend(claims)
        self._messages.update(messages)
        self._exhausted = self._exhausted or exhausted
        self._notify()

    def checked(self, mark: Mark, *, live_runs: set[int], lost: set[int]) -> None:
        """The conductor's liveness check: drop the claims we lost, hand back those of runs that
        may no longer send."""
        kept: deque[Claimed] = deque()
        stopped = []
        for claim in self._feed:
            if claim.delivery_id in lost:
                continue  # another sender holds it now: neither ours to send nor to hand back
            (kept if claim.run_id in live_runs else stopped).append(claim)
        self._feed = kept
        if stopped:
            self._put(("stopped", stopped))
        self._checked = mark
        self._notify()

    def wake_threadsafe(self) -> None:
        """From another thread: end the current turn (the conductor has something to take in)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed
            self._loop.call_soon_threadsafe(self._end_turn)

    def _end_turn(self) -> None:
        turn = self._turn
        if turn is not None and not turn.done():
            turn.set_result(None)

    def committed_threadsafe(self, slots: int) -> None:
        """`committed`, from another thread (the recorder's)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing waits any more
            self._loop.call_soon_threadsafe(self.committed, slots)

    def committed(self, slots: int) -> None:
        self._slots += slots
        waiters = self._slot_waiters
        while self._slots > 0 and waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                self._slots -= 1
                waiter.set_result(True)

    def stop(self) -> None:
        """Finish the messages in hand, send no other, hand the rest back."""
        if self._stopping:
            return
        self._stopping = True
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(False)
        self._notify()

    def close(self) -> None:
        """Release the loop (after "done"; after an error, whatever is still running is cancelled)."""
        loop = self._loop
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    # -- the loop ---------------------------------------------------------------------------

    async def _main(self) -> None:
        watchdog = asyncio.create_task(self._watchdog())
        results = await asyncio.gather(
            *(self._serve(index) for index in range(self._connection_count)),
            return_exceptions=True,
        )
        watchdog.cancel()
        error = next((r for r in results if isinstance(r, BaseException)), None)
        self._unsent.extend(self._feed)
        self._feed.clear()
        self._hand_group()
        self._hand_deferrals()
        if self._unsent:
            self._put(("release", self._unsent))
        self._put(("done", error))

    async def _serve(self, index: int) -> None:
        """One connection: takes claims off the feed until it is empty, or the pass stops.

        Where the server offers PIPELINING, the next message's MAIL, RCPT and DATA go in the
        same write as the final dot of the one before (RFC 2920 lets message content open a
        group): one round trip a message instead of two."""
        connection: SmtpConnection | DjangoBackendConnection | None = None
        try:
            # The first connection opens alone: if the server cannot be reached, that is one
            # try, not one per connection; the others start once it works.
            while index and not self._ramped and not self._stopping and not self._drained():
                await self._changed.wait()
            ready: tuple[Claimed, str, bytes] | None = None  # its DATA already accepted
            while True:
                if ready is None:
                    if (claim := await self._next_claim()) is None:
                        return
                    if (prepared := await self._prepare(claim)) is None:
                        continue
                    if connection is None or not connection.is_open:
                        if connection is not None:
                            self._connections.remove(connection)  # broken: a new one follows
                        connection, retire = await self._open(claim)
                        if retire:
                            return
                        if connection is None:
                            continue
                    # Refused before the end of DATA: not sent, nothing ambiguous to bound.
                    refusal = await connection.begin(prepared[1], claim.email)
                    if refusal is not None:
                        self._record(claim, refusal, slot=False)
                        continue
                    ready = prepared
                claim, _sender, data = ready
                ready = None
                if not await self._take_slot():
                    # Stopping: the server discards a message whose dot never came.
                    connection.abandon()  # type: ignore[union-attr]
                    self._unsent.append(claim)
                    return
                following = await self._prepare_next() if connection.pipelining else None  # type: ignore[union-attr]
                reply = await connection.commit(  # type: ignore[union-attr]
                    data, then=None if following is None else (following[1], following[0].email)
                )
                self._record(claim, reply, slot=True)
                if following is not None:
                    accepted, refusal = await connection.begin_pipelined()  # type: ignore[union-attr]
                    if accepted:
                        ready = following
                    elif refusal is not None:
                        self._record(following[0], refusal, slot=False)
                    else:  # the connection broke before the server read it: not a try
                        self._feed.appendleft(following[0])
        except BaseException:
            logger.exception("delivery.worker_failed")
            self.stop()
            raise
        finally:
            if connection is not None:
                self._connections.remove(connection)
                await connection.close()

    async def _prepare(self, claim: Claimed, *, may_wait: bool = True):
        """What the throttle says, and the recipient's bytes: (claim, envelope sender, data), or
        None when the claim is done with (recorded, deferred, or given back on a stop), or
        _WAIT when the throttle asks for a wait and `may_wait` is false."""
        message = self._messages.get(claim.run_id)
        if message is None or isinstance(message, Reply):
            # A message that cannot be built (or a run we know nothing of).
            self._record(claim, message or _UNKNOWN_RUN, slot=False)
            return None
        hold = self._reserve(claim)
        if hold is not None:
            if not may_wait and hold.until is None:
                return _WAIT
            if (held := await self._hold(claim, hold)) is None:
                return None
            claim = held
        refusal = address_refusal(claim.email)
        if refusal is None:
            try:
                data = message.render(
                    RecipientContext(
                        claim.email, claim.full_name, claim.delivery_id, claim.recipient_id
                    )
                )
            except Exception as exc:  # whatever the content layer refuses
                logger.error(
                    "delivery.message_unbuildable",
                    extra={"delivery_id": claim.delivery_id, "error": str(exc)},
                )
                refusal = Reply(0, f"Not sent: the message cannot be built ({exc})", final=True)
        if refusal is not None:
            self._record(claim, refusal, slot=False)
            return None
        return claim, message.envelope_sender, data

    async def _prepare_next(self) -> tuple[Claimed, str, bytes] | None:
        """The next claim, prepared, if one can go at once (nothing to wait for); else None."""
        while self._feed and not self._stopping and not stop_requested.is_set():
            if self._checked is None or self._checked.elapsed() > LIVENESS_GATE_SECONDS:
                return None
            claim = self._feed.popleft()
            if len(self._feed) < self._low_water:
                self._ask_more()
            prepared = await self._prepare(claim, may_wait=False)
            if prepared is _WAIT:
                self._feed.appendleft(claim)  # the throttle says wait: not in this write
                return None
            if prepared is not None:
                return prepared
        return None

    async def _open(
        self, claim: Claimed
    ) -> tuple[SmtpConnection | DjangoBackendConnection | None, bool]:
        """A new open connection, or (None, retire) when it could not open: then the claims
        in hand take its reply as this try, or, while other connections work, this one retires
        (`retire`) and leaves `claim` to them."""
        connection = SmtpConnection() if self._smtp else DjangoBackendConnection()
        self._connections.append(connection)
        refusal = await connection.open()
        if refusal is None:
            if not self._ramped:
                self._ramped = True
                self._notify()
            return connection, False
        self._connections.remove(connection)
        if any(other.is_open for other in self._connections):
            logger.warning("delivery.connection_retired", extra={"reply": str(refusal)})
            self._feed.appendleft(claim)
            return None, True
        logger.warning("delivery.connect_failed", extra={"reply": str(refusal)})
        # The server cannot be reached: that is this try for every claim in hand.
        for lost in (claim, *self._feed):
            self._record(lost, refusal, slot=False)
        self._feed.clear()
        return None, False

    async def _next_claim(self) -> Claimed | None:
        while True:
            if self._stopping or stop_requested.is_set():
                self.stop()
                return None
            if self._checked is None or self._checked.elapsed() > LIVENESS_GATE_SECONDS:
                await self._changed.wait()
                continue
            feed = self._feed
            if feed:
                claim = feed.popleft()
                if len(feed) < self._low_water:
                    self._ask_more()
                return claim
            if self._exhausted:
                return None
            self._ask_more()
            await self._changed.wait()

    async def _hold(self, claim: Claimed, hold: Hold) -> Claimed | None:
        """What the throttle said: wait and ask again, or defer the claim to a later time."""
        while hold is not None:
            if hold.until is not None:
                self._deferrals[hold.until].append(claim)
                return None
            await asyncio.sleep(hold.seconds)
            if self._stopping:
                self._unsent.append(claim)
                return None
            hold = self._reserve(claim)
        return claim

    async def _take_slot(self) -> bool:
        if self._stopping:
            return False
        if self._slots > 0 and not self._slot_waiters:
            self._slots -= 1
            return True
        waiter = self._loop.create_future()
        self._slot_waiters.append(waiter)
        return await waiter

    def _record(self, claim: Claimed, reply: Reply, *, slot: bool) -> None:
        at = timezone.now()
        group = self._group
        if not group:
            self._group_since = time.monotonic()
        group.append(Outcome(claim, reply, at, self._judge(reply, tries=claim.tries, at=at)))
        self._group_slots += slot
        if len(group) >= self._group_size:
            self._hand_group()

    def _hand_group(self) -> None:
        if self._group:
            self._put(("record", self._group, self._group_slots))
            self._group, self._group_slots = [], 0

    def _hand_deferrals(self) -> None:
        for until, claims in self._deferrals.items():
            self._put(("defer", claims, until))
        self._deferrals.clear()

    def _ask_more(self) -> None:
        if not self._asked and not self._exhausted and not self._stopping:
            self._asked = True
            self._put(("more",))

    def _put(self, item: tuple) -> None:
        """Ask the conductor for something: the turn ends."""
        self._outbox.append(item)
        self._end_turn()

    def _drained(self) -> bool:
        return self._exhausted and not self._feed

    def _notify(self) -> None:
        changed = self._changed
        if changed is not None:
            changed.set()
            changed.clear()

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(WATCHDOG_SECONDS)
            now = asyncio.get_running_loop().time()
            for connection in self._connections:
                if connection.deadline and now > connection.deadline:
                    connection.expire(now)
            if self._group and time.monotonic() - self._group_since >= MAX_RECORD_DELAY_SECONDS:
                self._hand_group()
            if self._deferrals:
                self._hand_deferrals()
            if stop_requested.is_set():
                self.stop()


def _end_turn(turn: asyncio.Future) -> None:
    if not turn.done():
        turn.set_result(None)


_WAIT = object()
_UNKNOWN_RUN = Reply(0, "Not sent: the run's message could not be loaded", final=True)
