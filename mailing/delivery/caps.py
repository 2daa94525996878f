"""Sending caps shared by every sender process: MAILING_RATE_PER_SECOND and
MAILING_DAILY_CAP per SMTP account, and the slow-down after a throttling reply.

`SharedThrottle` fills in the engine's `Throttle` seam. Its budget lives in PostgreSQL (or
SQLite), one `SendBudget` row per (account, kind): "second" counts what all senders reserved
in the current second, "day" in the current local day, "slow" holds until when everybody
sends at half speed. `refresh` (between the sender loop's turns, where the database may be
used) reserves a chunk with one upsert and `reserve` (once per message, on the loop) answers
from memory:

- the second's tokens are good only in the second they were reserved for, so however many
  processes share the account, no second carries more than the rate (tokens a process does
  not use in its second are lost, never lent to the next);
- the day's tokens are reserved `DAY_CHUNK` at a time (what a pass did not use is handed
  back when it ends, `close`); when the day's cap is spent, the rest
  waits for the next local midnight (`Hold(until=…)`: handed back to the queue, no try
  counted), and the mailing page says so (`cap_reached_until`);
- a throttling reply (`RetryPolicy.is_throttling`) is written to the "slow" row: every
  sender halves its rate (or keeps to SLOW_RATE without a rate cap) for
  MAILING_SLOW_DOWN_SECONDS; the delivery itself is retried as any 4xx is, the reply recorded.

Without caps and without a slow-down, `reserve` is three attribute tests, and `refresh`
reads the "slow" row once a second.
"""

import logging
import math
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.utils import timezone

from ..models import SendBudget
from ..transport import Reply
from .policy import Hold, Throttle

logger = logging.getLogger("mailing.delivery")

DAY_CHUNK = 20
SLOW_RATE = 10  # messages a second per account while slowed down, when no rate cap is set
# A claim the throttle holds back waits this long before it asks again (the next refresh).
WAIT_SECONDS = 0.05
SLOW_SYNC_SECONDS = 1.0
CAP_REACHED_KEY = "mailing:daily-cap-reached:{account}"


def account_key() -> str:
    """The SMTP account the caps are for: user, host and port (the backend's, when not SMTP)."""
    if settings.EMAIL_HOST:
        return f"{settings.EMAIL_HOST_USER}@{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    return settings.EMAIL_BACKEND


def cap_reached_until() -> datetime | None:
    """When the daily cap is spent: the time the senders go on (for the mailing page)."""
    value = cache.get(CAP_REACHED_KEY.format(account=account_key()))
    if value is None:
        return None
    until = datetime.fromisoformat(value)
    return until if until > timezone.now() else None


class SharedThrottle(Throttle):
    def __init__(
        self,
        *,
        rate: int,
        daily: int,
        account: str,
        slow_seconds: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rate = max(0, rate)
        self.daily = max(0, daily)
        self.account = account[:300]
        self.slow_seconds = slow_seconds
        self._clock = clock
        self._second = -1  # the second the tokens below are for
        self._second_tokens = 0
        self._second_asked = -1  # the last second we asked the shared budget for
        self._day = -1
        self._day_tokens = 0
        self._day_spent_until: datetime | None = None
        self._slow_until = 0.0
        self._slow_told: Reply | None = None
        self._slow_synced = 0.0

    @classmethod
    def from_settings(cls) -> "SharedThrottle":
        return cls(
            rate=settings.MAILING_RATE_PER_SECOND,
            daily=settings.MAILING_DAILY_CAP,
            account=account_key(),
            slow_seconds=settings.MAILING_SLOW_DOWN_SECONDS,
        )

    # -- on the sender's loop ------------------------------------------------------------------

    def reserve(self, claim: object) -> Hold | None:
        if not (self.rate or self.daily or self._slow_until):
            return None  # no caps and no slow-down: not even a clock read
        now = self._clock()
        if self.daily:
            if self._day_spent_until is not None:
                return Hold(until=self._day_spent_until)
            if self._day_tokens <= 0:
                return Hold(seconds=WAIT_SECONDS)
        if self.rate or now < self._slow_until:
            second = int(now)
            if self._second != second or self._second_tokens <= 0:
                return Hold(seconds=min(WAIT_SECONDS, second + 1 - now + 0.001))
            self._second_tokens -= 1
        if self.daily:
            self._day_tokens -= 1
        return None

    def slow_down(self, reply: Reply) -> None:
        self._slow_told = reply
        self._slow_until = max(self._slow_until, self._clock() + self.slow_seconds)
        self._second_tokens = min(self._second_tokens, self._slowed_rate())

    # -- between turns: the shared budget ---------------------------------------------------

    def refresh(self) -> None:
        try:
            self._refresh()
        except DatabaseError:
            # The budget cannot be read: send nothing more until it can (never over the caps).
            logger.exception("delivery.throttle_refresh_failed")
            self._second_tokens = 0

    def _refresh(self) -> None:
        now = self._clock()
        self._sync_slow(now)
        if self._slow_until and now >= self._slow_until:
            self._slow_until = 0.0  # over: back to the full rate
        if self.daily:
            today = datetime.fromtimestamp(now, tz=timezone.get_current_timezone()).date()
            if today.toordinal() != self._day:  # a new day: yesterday's tokens are not today's
                self._day, self._day_tokens, self._day_spent_until = today.toordinal(), 0, None
            if self._day_spent_until is not None:
                return
            if self._day_tokens <= DAY_CHUNK // 4:
                self._take_day(today)
                if self._day_spent_until is not None:
                    return
        if self.rate or now < self._slow_until:
            second = int(now)
            if second != self._second:
                self._second, self._second_tokens = second, 0
            if self._second_tokens <= 0 and self._second_asked != second:
                self._second_asked = second
                rate = self._slowed_rate() if now < self._slow_until else self.rate
                self._second_tokens = self._take("second", second, want=rate, cap=rate)

    def close(self) -> None:
        """Give the day's tokens this process reserved and did not use back to the others
        (a pass that sends 3 messages must not cost the day DAY_CHUNK)."""
        unused, self._day_tokens = self._day_tokens, 0
        if not self.daily or unused <= 0:
            return
        table = connection.ops.quote_name(SendBudget._meta.db_table)
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET used = CASE WHEN used > %s THEN used - %s ELSE 0 END "
                    "WHERE account = %s AND kind = 'day' AND period = %s",
                    [unused, unused, self.account, self._day],
                )
        except DatabaseError:
            logger.exception("delivery.throttle_release_failed")

    def _slowed_rate(self) -> int:
        return max(1, self.rate // 2) if self.rate else SLOW_RATE

    def _take_day(self, today: date) -> None:
        got = self._take("day", self._day, want=min(DAY_CHUNK, self.daily), cap=self.daily)
        self._day_tokens += got
        if self._day_tokens <= 0:
            tz = timezone.get_current_timezone()
            midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=tz)
            self._day_spent_until = midnight
            cache.set(
                CAP_REACHED_KEY.format(account=self.account),
                midnight.isoformat(),
                timeout=max(1, math.ceil((midnight - timezone.now()).total_seconds())),
            )
            logger.info(
                "delivery.daily_cap_reached",
                extra={"cap": self.daily, "until": midnight.isoformat()},
            )

    def _take(self, kind: str, period: int, *, want: int, cap: int) -> int:
        """Reserve up to `want` of `cap` in `period`; returns how many were granted."""
        if want <= 0:
            return 0
        table = connection.ops.quote_name(SendBudget._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} AS b (account, kind, period, used, slow_until) "
                "VALUES (%s, %s, %s, %s, 0) ON CONFLICT (account, kind) DO UPDATE SET "
                "used = CASE WHEN b.period = excluded.period THEN b.used + excluded.used "
                "ELSE excluded.used END, period = excluded.period RETURNING used",
                [self.account, kind, period, want],
            )
            used = cursor.fetchone()[0]
        return max(0, min(want, cap - (used - want)))

    def _sync_slow(self, now: float) -> None:
        """Tell the others of a throttling reply; learn of theirs (once a second)."""
        table = connection.ops.quote_name(SendBudget._meta.db_table)
        told, self._slow_told = self._slow_told, None
        if told is not None:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} AS b (account, kind, period, used, slow_until) "
                    "VALUES (%s, 'slow', 0, 0, %s) ON CONFLICT (account, kind) DO UPDATE SET "
                    "slow_until = CASE WHEN b.slow_until > excluded.slow_until "
                    "THEN b.slow_until ELSE excluded.slow_until END",
                    [self.account, self._slow_until],
                )
            logger.warning(
                "delivery.slowing_down",
                extra={"reply": str(told), "seconds": self.slow_seconds},
            )
            self._slow_synced = now
        elif now - self._slow_synced >= SLOW_SYNC_SECONDS:
            self._slow_synced = now
            until = (
                SendBudget.objects.filter(account=self.account, kind="slow")
                .values_list("slow_until", flat=True)
                .first()
            )
            if until:
                self._slow_until = max(self._slow_until, until)
