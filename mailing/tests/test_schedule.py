"""When occurrences fall: month ends, daylight saving, and no backfill after downtime."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.utils import timezone

from mailing.schedule import latest_occurrence, next_occurrence, occurrence

UTC = ZoneInfo("UTC")


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, tz: ZoneInfo = UTC
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


@pytest.mark.parametrize(
    ("anchor", "index", "expected"),
    [
        (at(2027, 1, 31, 9), 1, at(2027, 2, 28, 9)),  # 31 January + 1 month
        (at(2028, 1, 31, 9), 1, at(2028, 2, 29, 9)),  # leap year
        (at(2027, 1, 31, 9), 2, at(2027, 3, 31, 9)),  # back to the 31st, not the 28th
        (at(2027, 1, 31, 9), 3, at(2027, 4, 30, 9)),
        (at(2027, 11, 30, 9), 3, at(2028, 2, 29, 9)),  # across a year end
        (at(2027, 5, 15, 9), 12, at(2028, 5, 15, 9)),
    ],
)
def test_monthly_keeps_the_anchor_day_clamped_to_the_month(anchor, index, expected):
    assert occurrence(anchor=anchor, periodicity="monthly", index=index) == expected


def test_daily_and_weekly_step_by_days():
    anchor = at(2027, 3, 1, 8, 30)
    assert occurrence(anchor=anchor, periodicity="daily", index=3) == at(2027, 3, 4, 8, 30)
    assert occurrence(anchor=anchor, periodicity="weekly", index=2) == at(2027, 3, 15, 8, 30)


@override_settings(TIME_ZONE="Europe/Berlin")
def test_daily_keeps_the_local_hour_across_daylight_saving():
    berlin = ZoneInfo("Europe/Berlin")
    with timezone.override(berlin):
        anchor = at(2027, 3, 27, 9, tz=berlin)  # the clocks go forward on 28 March
        next_day = occurrence(anchor=anchor, periodicity="daily", index=1)
    assert next_day == at(2027, 3, 28, 9, tz=berlin)
    # Same wall-clock hour, but only 23 real hours later.
    assert next_day.astimezone(UTC) - anchor.astimezone(UTC) == timedelta(hours=23)


def test_a_scheduler_down_for_three_days_gets_only_the_current_occurrence():
    anchor = at(2027, 6, 1, 10)
    now = at(2027, 6, 4, 11)  # the 2nd, 3rd and 4th at 10:00 were all missed
    index, latest = latest_occurrence(anchor=anchor, periodicity="daily", now=now)
    assert (index, latest) == (3, at(2027, 6, 4, 10))
    assert next_occurrence(anchor=anchor, periodicity="daily", after=latest) == at(2027, 6, 5, 10)


def test_latest_occurrence_is_exact_at_the_boundaries():
    anchor = at(2027, 1, 31, 9)
    assert latest_occurrence(anchor=anchor, periodicity="monthly", now=at(2027, 2, 28, 9))[1] == (
        at(2027, 2, 28, 9)
    )
    assert latest_occurrence(anchor=anchor, periodicity="monthly", now=at(2027, 2, 28, 8, 59)) == (
        0,
        at(2027, 1, 31, 9),
    )
    assert latest_occurrence(anchor=anchor, periodicity="monthly", now=at(2027, 1, 30))[0] == -1


def test_a_one_off_has_no_occurrence_after_its_anchor():
    anchor = at(2027, 1, 1, 12)
    assert next_occurrence(anchor=anchor, periodicity="once", after=at(2026, 12, 31)) == anchor
    assert next_occurrence(anchor=anchor, periodicity="once", after=anchor) is None
