"""When a mailing's occurrences fall, and the plan a mailing is stored with.

Occurrences are counted from an anchor in the site's local time: daily and weekly keep the
wall-clock time across daylight-saving changes, and monthly keeps the anchor's day of the
month, clamped to the month's length (31 January → 28/29 February → 31 March).

A mailing's plan is its anchor and its next send (`Plan`). It is derived here and nowhere
else: `initial_plan` for a mailing stored without one, whichever way it is stored (the
services, `Mailing.objects.create` in a shell or a data migration, `loaddata`, an admin form:
all reach it through the pre_save receiver in `mailing.signals`), and `plan` when an edit
changes the first send or the periodicity (`mailing.services.mailing_update`). Pure functions:
no database, no clock but the `after` they are given.
"""

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

ONCE = "once"
DAILY = "daily"
WEEKLY = "weekly"
MONTHLY = "monthly"


def occurrence(*, anchor: datetime, periodicity: str, index: int) -> datetime:
    """The `index`-th occurrence (0 is the anchor itself)."""
    # zoneinfo arithmetic is wall-clock arithmetic: the UTC offset is re-resolved for the
    # new date, so 09:00 stays 09:00 across a daylight-saving change.
    local = timezone.localtime(anchor)
    if periodicity == ONCE or index == 0:
        return local
    if periodicity == DAILY:
        return local + timedelta(days=index)
    if periodicity == WEEKLY:
        return local + timedelta(weeks=index)
    if periodicity == MONTHLY:
        year, month0 = divmod(local.month - 1 + index, 12)
        year += local.year
        day = min(local.day, calendar.monthrange(year, month0 + 1)[1])
        return local.replace(year=year, month=month0 + 1, day=day)
    raise ValueError(f"Unknown periodicity {periodicity!r}")


def latest_occurrence(*, anchor: datetime, periodicity: str, now: datetime) -> tuple[int, datetime]:
    """The last occurrence at or before `now`, with its index; (-1, anchor) if none yet."""
    if now < anchor:
        return -1, timezone.localtime(anchor)
    if periodicity == ONCE:
        return 0, timezone.localtime(anchor)
    index = _estimate_index(anchor=anchor, periodicity=periodicity, now=now)
    # The estimate is within one step; walk to the exact answer.
    while index > 0 and occurrence(anchor=anchor, periodicity=periodicity, index=index) > now:
        index -= 1
    while occurrence(anchor=anchor, periodicity=periodicity, index=index + 1) <= now:
        index += 1
    return index, occurrence(anchor=anchor, periodicity=periodicity, index=index)


def next_occurrence(*, anchor: datetime, periodicity: str, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after`; None for a one-off past its anchor."""
    index, _ = latest_occurrence(anchor=anchor, periodicity=periodicity, now=after)
    if periodicity == ONCE:
        return timezone.localtime(anchor) if index < 0 else None
    return occurrence(anchor=anchor, periodicity=periodicity, index=index + 1)


def _estimate_index(*, anchor: datetime, periodicity: str, now: datetime) -> int:
    if periodicity == DAILY:
        return (now - anchor).days
    if periodicity == WEEKLY:
        return (now - anchor).days // 7
    local_anchor, local_now = timezone.localtime(anchor), timezone.localtime(now)
    return max(0, (local_now.year - local_anchor.year) * 12 + local_now.month - local_anchor.month)


@dataclass(frozen=True)
class Plan:
    """Where a mailing's occurrences are counted from, and the next one the scheduler starts
    (None when none is left)."""

    anchor: datetime
    next_send_at: datetime | None


def plan(
    *, first_send_at: datetime, periodicity: str, end_at: datetime, after: datetime | None
) -> Plan:
    """The plan of a mailing counted from its first send.

    `after` is None for a mailing that never ran: its plan starts at `first_send_at`, even one
    in the past (it is sent as soon as possible). For a mailing that already ran it is the
    moment of the re-plan: the mailing continues with its next occurrence after it, so an edit
    never triggers an immediate catch-up send."""
    if after is None:
        return Plan(anchor=first_send_at, next_send_at=first_send_at)
    following = next_occurrence(anchor=first_send_at, periodicity=periodicity, after=after)
    return Plan(
        anchor=first_send_at,
        next_send_at=following if following is not None and following < end_at else None,
    )


def initial_plan(
    *, first_send_at: datetime, periodicity: str, end_at: datetime, finished: bool
) -> Plan:
    """The plan of a mailing stored without one: counted from its first send, and sent then,
    unless it is stored finished (a finished mailing sends again only when scheduled)."""
    new = plan(first_send_at=first_send_at, periodicity=periodicity, end_at=end_at, after=None)
    return Plan(anchor=new.anchor, next_send_at=None if finished else new.next_send_at)


def same_minute(a: datetime, b: datetime) -> bool:
    """The dashboard edits times to the minute: a stored time with seconds is the same time."""
    return a.replace(second=0, microsecond=0) == b.replace(second=0, microsecond=0)
