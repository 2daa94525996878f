"""The sender: one asyncio event loop driving many SMTP connections (connection.py's workers)
over a shared feed of claims. It never touches the database: it runs in turns, in the
conductor's thread (conductor.py), and a turn ends as soon as it needs the conductor (a group
to record, more claims, claims to hand back) or the next liveness check is due. Between turns
the conductor does its database work; the servers' replies wait in the sockets meanwhile, and
the next turn takes them all at once. Django's ORM is never called while the loop runs.

Per message: take the next claim (only while the last liveness check is fresh), ask the
policy's throttle, render the recipient's bytes (`mailing.content`), MAIL/RCPT/DATA, take one
of MAILING_COMMIT_EVERY *slots*, send the body and its final dot, judge the reply
(`Policy.judge`) and add the outcome to the commit group. A slot comes back only when the
outcome that holds it is committed, so at any instant at most MAILING_COMMIT_EVERY sent
messages are unrecorded (all that a kill -9 can re-send) while many connections overlap their
round trips. A group is handed over when it is full (half the slots, so that one fills while
the one before it is written), or when its oldest outcome has waited MAX_RECORD_DELAY_SECONDS
(the watchdog, which also gives up on replies that are overdue).
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict, deque
from datetime import datetime

from django.utils import timezone

from ..content import PreparedMessage
from ..transport import Reply
from .connection import Connection, Worker
from .policy import Policy
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
    """The SMTP side of one delivery pass. The conductor calls `start`, `turn`, `feed`,
    `checked`, `committed`, `stop` and `close` between turns, and the database threads the
    `*_threadsafe` ones; the workers call the rest, on the loop. One thread runs it all."""

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
        self.reserve = policy.throttle.reserve
        self._connection_count = connections
        self.smtp = smtp
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
        self._connections: list[Connection] = []
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
            timer = loop.call_later(timeout, _resolve, turn)
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
        stopped: list[Claimed] = []
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
        """`committed`, from another thread (a database thread's)."""
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
            *(Worker(self, index).run() for index in range(self._connection_count)),
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

    # -- for the connections' workers (connection.py) ------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping or stop_requested.is_set()

    def message(self, claim: Claimed) -> PreparedMessage | Reply:
        """The claim's message, or the final failure that stands for one that cannot be built."""
        return self._messages.get(claim.run_id) or _UNKNOWN_RUN

    async def next_claim(self) -> Claimed | None:
        """The next claim to send, once the last liveness check is fresh; None when the feed is
        done with (or the pass stops)."""
        while True:
            if self.stopping:
                self.stop()
                return None
            if not self._fresh():
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

    def next_claim_now(self) -> Claimed | None:
        """The next claim if one may go at once, without waiting for anything; else None."""
        if not self._feed or self.stopping or not self._fresh():
            return None
        claim = self._feed.popleft()
        if len(self._feed) < self._low_water:
            self._ask_more()
        return claim

    def put_back(self, claim: Claimed) -> None:
        """Untried after all: first in line again."""
        self._feed.appendleft(claim)

    def give_back(self, claim: Claimed) -> None:
        """Untried, and the pass is stopping: back to the queue."""
        self._unsent.append(claim)

    def defer(self, claim: Claimed, until: datetime) -> None:
        self._deferrals[until].append(claim)

    def fail_in_hand(self, claim: Claimed, reply: Reply) -> None:
        """The server cannot be reached: that is this try for `claim` and every claim in hand."""
        for lost in (claim, *self._feed):
            self.record(lost, reply, slot=False)
        self._feed.clear()

    def watch(self, connection: Connection) -> None:
        """A connection about to open: from now on the watchdog keeps its deadlines."""
        self._connections.append(connection)

    def opened(self, connection: Connection) -> None:
        if not self._ramped:
            self._ramped = True
            self._notify()

    def closed(self, connection: Connection) -> None:
        if connection in self._connections:
            self._connections.remove(connection)

    def others_open(self, connection: Connection) -> bool:
        return any(other.is_open for other in self._connections if other is not connection)

    async def wait_for_ramp(self) -> None:
        """Until one connection works: if the server cannot be reached, that is one try for
        the claims in hand, not one per connection."""
        while not self._ramped and not self._stopping and not (self._exhausted and not self._feed):
            await self._changed.wait()

    async def take_slot(self) -> bool:
        """One of the MAILING_COMMIT_EVERY slots, before a final dot; False when stopping."""
        if self._stopping:
            return False
        if self._slots > 0 and not self._slot_waiters:
            self._slots -= 1
            return True
        waiter = self._loop.create_future()
        self._slot_waiters.append(waiter)
        return await waiter

    def record(self, claim: Claimed, reply: Reply, *, slot: bool) -> None:
        """A try's outcome, judged by the policy, into the commit group (with its slot)."""
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

    def _fresh(self) -> bool:
        return self._checked is not None and self._checked.elapsed() <= LIVENESS_GATE_SECONDS

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


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


_UNKNOWN_RUN = Reply(0, "Not sent: the run's message could not be loaded", final=True)
