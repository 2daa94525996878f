"""The scheduler process, one tick at a time (`run_scheduler --once`), with the clock moved by
the test instead of slept."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from blog.tests.factories import make_post
from mailing import delivery, services
from mailing.models import Attempt, Mailing, Run

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2027, 1, 31, 9, 0, tzinfo=ZoneInfo("UTC"))


def tick() -> None:
    call_command("run_scheduler", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115


def occurrences(mailing: Mailing) -> list[datetime]:
    return list(
        Run.objects.filter(mailing=mailing)
        .order_by("occurrence")
        .values_list("occurrence", flat=True)
    )


def test_a_due_mailing_is_sent_without_any_action_by_the_user(user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=3, first_send_at=timezone.now() - timedelta(minutes=5))

    tick()

    assert smtp_sink.total == 3
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.FINISHED  # a one-off is done after its run
    assert Attempt.objects.filter(mailing=mailing, status=Attempt.Status.SUCCESS).count() == 3


def test_a_future_mailing_waits_then_starts_by_itself(user, make_mailing, smtp_sink):
    with time_machine.travel(START, tick=False) as clock:
        mailing = make_mailing(user, recipients=2, first_send_at=START + timedelta(hours=2))

        tick()
        mailing.refresh_from_db()
        assert smtp_sink.total == 0
        assert mailing.status == Mailing.Status.CREATED

        clock.move_to(START + timedelta(hours=2))
        tick()
        assert smtp_sink.total == 2
        mailing.refresh_from_db()
        assert mailing.status == Mailing.Status.FINISHED


def test_a_daily_mailing_sends_one_run_per_day_until_its_end(user, make_mailing, smtp_sink):
    with time_machine.travel(START, tick=False) as clock:
        mailing = make_mailing(
            user,
            recipients=2,
            periodicity=Mailing.Periodicity.DAILY,
            first_send_at=START,
            end_at=START + timedelta(days=2, hours=12),
        )
        tick()
        tick()  # the same tick again creates nothing new
        assert occurrences(mailing) == [START]
        mailing.refresh_from_db()
        assert mailing.status == Mailing.Status.LAUNCHED
        assert mailing.next_send_at == START + timedelta(days=1)

        for day in (1, 2):
            clock.move_to(START + timedelta(days=day, minutes=1))
            tick()
        assert occurrences(mailing) == [START + timedelta(days=d) for d in range(3)]
        assert smtp_sink.total == 6

        clock.move_to(START + timedelta(days=3, minutes=1))  # past end_at
        tick()
        assert len(occurrences(mailing)) == 3
        mailing.refresh_from_db()
        assert mailing.status == Mailing.Status.FINISHED
        assert mailing.next_send_at is None


def test_a_scheduler_that_was_down_sends_the_current_occurrence_once(user, make_mailing, smtp_sink):
    with time_machine.travel(START, tick=False) as clock:
        mailing = make_mailing(
            user,
            recipients=2,
            periodicity=Mailing.Periodicity.DAILY,
            first_send_at=START,
            end_at=START + timedelta(days=30),
        )
        clock.move_to(START + timedelta(days=3, hours=1))  # three days without a tick
        tick()
        tick()

    assert occurrences(mailing) == [START + timedelta(days=3)]
    assert sorted(smtp_sink.counts.values()) == [1, 1]


def test_a_monthly_mailing_on_the_31st_goes_out_on_the_last_day_of_short_months(
    user, make_mailing, smtp_sink
):
    with time_machine.travel(START, tick=False) as clock:
        mailing = make_mailing(
            user,
            recipients=1,
            periodicity=Mailing.Periodicity.MONTHLY,
            first_send_at=START,
            end_at=START + timedelta(days=100),
        )
        tick()
        mailing.refresh_from_db()
        assert mailing.next_send_at == datetime(2027, 2, 28, 9, tzinfo=ZoneInfo("UTC"))
        clock.move_to(datetime(2027, 2, 28, 9, 0, 30, tzinfo=ZoneInfo("UTC")))
        tick()
        mailing.refresh_from_db()
        assert mailing.next_send_at == datetime(2027, 3, 31, 9, tzinfo=ZoneInfo("UTC"))

    assert [o.date().isoformat() for o in occurrences(mailing)] == ["2027-01-31", "2027-02-28"]


def test_a_mailing_whose_end_passed_before_it_ever_ran_finishes_without_sending(
    user, make_mailing, smtp_sink
):
    with time_machine.travel(START, tick=False) as clock:
        mailing = make_mailing(
            user,
            recipients=2,
            first_send_at=START + timedelta(hours=1),
            end_at=START + timedelta(hours=2),
        )
        clock.move_to(START + timedelta(hours=3))
        tick()

    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.FINISHED
    assert smtp_sink.total == 0
    assert not Run.objects.filter(mailing=mailing).exists()


def test_a_blocked_owner_or_a_disabled_mailing_is_never_started(make_user, make_mailing, smtp_sink):
    blocked = make_user("blocked@example.com", blocked=True)
    owner = make_user("owner@example.com")
    make_mailing(blocked, recipients=2)
    disabled = make_mailing(owner, recipients=2)
    Mailing.objects.filter(pk=disabled.pk).update(is_disabled=True)

    tick()

    assert smtp_sink.total == 0
    assert not Run.objects.exists()


def test_send_now_on_a_due_periodic_mailing_is_that_occurrence_not_an_extra_one(
    user, make_mailing, smtp_sink
):
    """A daily mailing created a minute ago with its first send "now", and Send now pressed:
    the next tick must not start the same occurrence again (everyone mailed twice)."""
    with time_machine.travel(START, tick=False):
        mailing = make_mailing(
            user,
            recipients=2,
            periodicity=Mailing.Periodicity.DAILY,
            first_send_at=START - timedelta(minutes=1),
            end_at=START + timedelta(days=10),
        )
        services.mailing_send_now(user=user, mailing=mailing)
        tick()
        tick()

        assert len(occurrences(mailing)) == 1
        assert sorted(smtp_sink.counts.values()) == [1, 1]
        mailing.refresh_from_db()
        assert mailing.next_send_at == START - timedelta(minutes=1) + timedelta(days=1)


def test_a_due_occurrence_waits_for_the_run_still_being_sent(user, make_mailing, smtp_sink):
    with time_machine.travel(START, tick=False) as clock:
        mailing = make_mailing(
            user,
            recipients=2,
            periodicity=Mailing.Periodicity.DAILY,
            first_send_at=START + timedelta(hours=1),
            end_at=START + timedelta(days=10),
        )
        delivery.start_run(mailing=mailing)  # Send now, an hour before the first occurrence
        clock.move_to(START + timedelta(hours=1))

        assert delivery.start_due_runs() == []  # one run at a time
        mailing.refresh_from_db()
        assert mailing.next_send_at == START + timedelta(hours=1)  # still due

        tick()  # delivers and closes the manual run
        tick()  # then starts the occurrence

    assert occurrences(mailing) == [START, START + timedelta(hours=1)]
    assert sorted(smtp_sink.counts.values()) == [2, 2]
    mailing.refresh_from_db()
    assert mailing.next_send_at == START + timedelta(days=1, hours=1)


def test_a_page_whose_go_live_time_has_come_is_published_by_the_scheduler():
    post = make_post("Coming soon", live=False)
    post.go_live_at = timezone.now() + timedelta(hours=1)
    post.save_revision().publish()  # scheduled: Wagtail waits for the go-live time
    post.refresh_from_db()
    assert not post.live

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        tick()

    post.refresh_from_db()
    assert post.live
