"""What the engine does with a server's answer, and how fast it may send.

`RetryPolicy.decide` is the one classification of a try: a pure function of the reply and
the number of tries already made, returning a small `Decision` (the delivery's next state,
when to try again, the text the attempt records). The sender calls it as each reply comes in;
`records` writes what it decided. New outcomes ("failed and the address suppressed", a
"skipped" delivery) are new fields or states of `Decision`, chosen here; the sender does not
change.

`Throttle` is the seam the sender calls before each message. This one never holds anything
back (one method call per message); a throttle with per-second and per-day caps shared by all
senders fills it in (`reserve` may ask for a short wait or defer the claim to a later window;
`slow_down` is called when a server says we are too fast).

`Policy` is what the sender holds: both, built once per delivery pass from settings.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.utils import timezone

from ..models import Delivery
from ..transport import Reply

SENT = Delivery.State.SENT
RETRY = Delivery.State.PENDING  # queued again, due at `retry_at`
FAILED = Delivery.State.FAILED


class Decision(NamedTuple):
    """A try's verdict: the delivery's next `state` (sent, pending again, failed), when it is
    due again (`retry_at`, for a retry only) and the text its attempt records."""

    state: str
    retry_at: datetime | None
    note: str
    # The reply asked us to slow down (a provider's rate limit); `Policy.judge` tells the throttle.
    throttling: bool = False
    # A bounce that suppresses the address (`suppression.suppress_bounces`): "now" (no such
    # mailbox), "after_limit" (another permanent failure: after MAILING_BOUNCE_LIMIT in a row).
    bounce: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == SENT


@dataclass(frozen=True)
class RetryPolicy:
    """2xx sent; 4xx, timeouts, dropped or refused connections, garbage and any refusal of our
    own session (greeting, EHLO, STARTTLS, AUTH, MAIL FROM, whatever its code) retried after
    `retry_base_seconds` times 1, 2, 4 and so on, up to `max_tries` tries in all; a 5xx to the recipient or
    the message, and a message that cannot be built, failed at once."""

    max_tries: int = 5
    retry_base_seconds: int = 60

    @classmethod
    def from_settings(cls) -> "RetryPolicy":
        return cls(
            max_tries=max(1, settings.MAILING_MAX_TRIES),
            retry_base_seconds=max(0, settings.MAILING_RETRY_BASE_SECONDS),
        )

    def decide(self, reply: Reply, *, tries: int, at: datetime) -> Decision:
        """The verdict on a try made at `at`, after `tries` earlier tries of this delivery."""
        code = reply.code
        if 200 <= code < 300:
            return Decision(SENT, None, str(reply))
        tries += 1
        if self.is_permanent(reply) or tries >= self.max_tries:
            return Decision(
                FAILED, None, str(reply), self.is_throttling(reply), self.bounce_of(reply)
            )
        retry_at = at + timedelta(seconds=self.retry_base_seconds * 2 ** (tries - 1))
        # The local time of day, as the owner reads the report.
        note = f"{reply} (try {tries} of {self.max_tries}; next at {timezone.localtime(retry_at):%H:%M:%S})"
        return Decision(RETRY, retry_at, note, self.is_throttling(reply))

    @staticmethod
    def is_permanent(reply: Reply) -> bool:
        # A refused session says nothing about the recipient: failing every queued recipient
        # of every user because of a bad password or a blocked host would be wrong.
        return reply.final or (500 <= reply.code < 600 and not reply.session)

    @staticmethod
    def is_throttling(reply: Reply) -> bool:
        """A reply that means "you are sending too fast": 421, 450, 451, 452 or 454 with
        rate or "too many" wording (a greylisting 451 is not one)."""
        return reply.code in _THROTTLING_CODES and bool(_THROTTLING_TEXT.search(reply.text))

    @staticmethod
    def bounce_of(reply: Reply) -> str | None:
        """Whether a permanent failure suppresses the address: "now" when the server says the
        mailbox does not exist (5.1.1, 5.1.2, 5.1.10, or a 550 saying so), "after_limit" for
        another 5xx to the recipient or the message, None for anything else (4xx, refusals of
        our session, failures no server gave)."""
        if not 500 <= reply.code < 600 or reply.session:
            return None
        if _NO_MAILBOX_STATUS.search(reply.text) or (
            reply.code == 550 and _NO_MAILBOX_TEXT.search(reply.text)
        ):
            return "now"
        return "after_limit"


_THROTTLING_CODES = frozenset({421, 450, 451, 452, 454})
_THROTTLING_TEXT = re.compile(
    r"\brate\b|rate.?limit|too many|too fast|throttl|slow down", re.IGNORECASE
)
_NO_MAILBOX_STATUS = re.compile(r"(?<![\d.])5\.1\.(?:1|2|10)(?![\d.])")
_NO_MAILBOX_TEXT = re.compile(
    r"mailbox (?:unavailable|not found|does not exist|unknown)|no such (?:user|mailbox|recipient)"
    r"|user unknown|unknown (?:user|recipient|mailbox)|does not exist|recipient not found"
    r"|address rejected",
    re.IGNORECASE,
)


class Hold(NamedTuple):
    """The throttle's answer when a message may not go at once: wait `seconds` and ask again,
    or, with `until`, hand the claim back to the queue due at that time (no try counted)."""

    seconds: float = 0.0
    until: datetime | None = None


class Throttle:
    """Asked before every message; this one lets everything through at once.

    `reserve` and `slow_down` run on the sender's event loop, once per message: they must be
    cheap and must not block (no ORM there: Django refuses it while a loop runs). A throttle
    whose budget is shared by all senders keeps its state in PostgreSQL or Redis, reserves
    it in chunks in `refresh` (the conductor calls it between the loop's turns, at least every
    LIVENESS_CHECK_SECONDS, where the database may be used) and answers `reserve` from memory.
    `claim` is the delivery about to be sent (its mailing, its address), for caps per mailing
    or per receiving domain."""

    def reserve(self, claim: object) -> Hold | None:
        """None: send now. Hold(seconds=s): wait s seconds and ask again. Hold(until=t): hand
        the claim back to the queue, due at t, without counting a try."""
        return None

    def slow_down(self, reply: Reply) -> None:
        """A server said we are too fast (`Policy.judge` calls this): `reply` is what it said."""

    def refresh(self) -> None:
        """Between turns of the sender's loop: sync with the shared budget."""

    def close(self) -> None:
        """The delivery pass is over (the database may be used): hand back what was reserved
        and not used."""


@dataclass(frozen=True)
class Policy:
    retry: RetryPolicy
    throttle: Throttle

    @classmethod
    def from_settings(cls) -> "Policy":
        from .caps import SharedThrottle  # it fills in this module's seam

        return cls(retry=RetryPolicy.from_settings(), throttle=SharedThrottle.from_settings())

    def judge(self, reply: Reply, *, tries: int, at: datetime) -> Decision:
        """`RetryPolicy.decide`, and the throttle told when the reply asked us to slow down."""
        decision = self.retry.decide(reply, tries=tries, at=at)
        if decision.throttling:
            self.throttle.slow_down(reply)
        return decision
