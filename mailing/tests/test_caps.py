"""Sending caps shared by every sender process (MAILING_RATE_PER_SECOND, MAILING_DAILY_CAP) and
the slow-down after a throttling reply; against a real SMTP server on loopback."""

import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from mailing import delivery, selectors
from mailing.delivery import Hold
from mailing.delivery.caps import SLOW_RATE, SharedThrottle, cap_reached_until
from mailing.models import Attempt, Delivery
from mailing.transport import Reply

from .senders import manage, sender_env

pytestmark = pytest.mark.django_db(transaction=True)

RATE = 20


def test_a_rate_cap_holds_across_two_sender_processes(user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=5 * RATE)
    delivery.start_run(mailing=mailing)
    smtp_sink.keep_messages = True
    env = sender_env(smtp_sink, MAILING_RATE_PER_SECOND=str(RATE), MAILING_BATCH_SIZE="20")

    senders = manage(env, "run_senders", "--once", "--processes", "2", "--connections", "2")
    stdout, stderr = senders.communicate(timeout=120)

    assert senders.returncode == 0, stderr
    received = smtp_sink.received
    assert len(received) == 5 * RATE
    assert len({r.rcpt_to for r in received}) == 5 * RATE
    times = sorted(r.at for r in received)
    # 5N messages at N a second fill at least five one-second windows.
    assert times[-1] - times[0] >= 3.0, times[-1] - times[0]
    per_second = Counter(int(t) for t in times)
    # A message reserved at the end of its second may reach the server in the next one.
    assert max(per_second.values()) <= RATE + RATE // 4, per_second
    # Both processes sent, so the budget was shared, not per process.
    assert "sender 1: sent" in stdout and "sender 2: sent" in stdout, stdout


def test_a_daily_cap_defers_the_rest_to_the_next_day(user, make_mailing, smtp_sink, settings):
    settings.MAILING_DAILY_CAP = 3
    settings.TIME_ZONE = "UTC"
    start = datetime(2027, 3, 1, 22, 0, tzinfo=timezone.get_current_timezone())
    with time_machine.travel(start):
        mailing = make_mailing(user, recipients=5)
        run = delivery.start_run(mailing=mailing)
        report = delivery.deliver()

        assert (report.sent, report.postponed) == (3, 2)
        midnight = datetime(2027, 3, 2, tzinfo=timezone.get_current_timezone())
        waiting = Delivery.objects.filter(run=run, state=Delivery.State.PENDING)
        assert {(d.tries, d.next_try_at) for d in waiting} == {(0, midnight)}
        assert Attempt.objects.filter(run=run).count() == 3  # no try counted for the others
        assert cap_reached_until() == midnight
        wait = selectors.daily_cap_wait(mailing=mailing)
        assert wait is not None and (wait.waiting, wait.until) == (2, midnight)
        assert delivery.deliver().attempted == 0  # the same day: still spent

    with time_machine.travel(midnight + timedelta(minutes=1)):
        assert delivery.deliver().sent == 2
        assert selectors.daily_cap_wait(mailing=mailing) is None
    assert sorted(smtp_sink.counts.values()) == [1] * 5


def test_the_mailing_page_says_when_the_rest_goes(
    user, make_mailing, smtp_sink, settings, client_for
):
    settings.MAILING_DAILY_CAP = 1
    mailing = make_mailing(user, recipients=3)
    delivery.start_run(mailing=mailing)
    delivery.deliver()

    page = client_for(user).get(f"/dashboard/mailings/{mailing.pk}/")

    assert page.status_code == 200
    assert "daily sending cap" in page.content.decode()


def test_a_throttling_reply_slows_every_sender_down_and_is_retried(user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=2)
    fast, _other = mailing.recipients.order_by("email").values_list("email", flat=True)
    smtp_sink.script(fast, "421 4.7.0 Too many messages, slow down")
    run = delivery.start_run(mailing=mailing)

    delivery.deliver()

    row = Delivery.objects.get(run=run, recipient__email=fast)
    assert (row.state, row.tries) == (Delivery.State.PENDING, 1)  # retried later
    assert Attempt.objects.get(run=run, email=fast).server_response.startswith("421 4.7.0 Too many")
    # Another sender process, started afterwards, learns of it from the shared budget.
    # Its clock a few seconds on, in a second whose budget nobody has touched yet, and held
    # there: per-second tokens are good only in their second, so a real clock crossing into
    # the next one between refresh() and reserve() would leave it nothing to hand out.
    moment = time.time() + 5
    later = SharedThrottle(rate=0, daily=0, account=_account(smtp_sink), clock=lambda: moment)
    assert later.reserve(object()) is None  # it knows nothing yet
    later.refresh()
    granted = [later.reserve(object()) for _ in range(SLOW_RATE + 5)]
    assert granted.count(None) == SLOW_RATE
    assert isinstance(granted[-1], Hold)


def _account(sink) -> str:
    return f"@{sink.host}:{sink.port}"


def test_the_throttle_hands_out_no_more_than_the_rate_in_a_second(db):
    clock = [1000.2]
    first = SharedThrottle(rate=5, daily=0, account="a", clock=lambda: clock[0])
    second = SharedThrottle(rate=5, daily=0, account="a", clock=lambda: clock[0])
    for throttle in (first, second):
        throttle.refresh()
    granted = [t.reserve(object()) is None for t in (first, second) for _ in range(5)]
    assert granted.count(True) == 5
    clock[0] = 1001.0
    for throttle in (first, second):
        throttle.refresh()
    assert [t.reserve(object()) is None for t in (first, second) for _ in range(5)].count(True) == 5


def test_without_caps_the_throttle_lets_everything_through(db):
    throttle = SharedThrottle(rate=0, daily=0, account="a")
    throttle.refresh()
    assert all(throttle.reserve(object()) is None for _ in range(1000))


def test_a_slow_down_halves_the_rate(db):
    clock = [2000.0]
    throttle = SharedThrottle(rate=10, daily=0, account="b", clock=lambda: clock[0])
    throttle.slow_down(Reply(421, "4.7.0 rate limited"))
    throttle.refresh()
    assert [throttle.reserve(object()) is None for _ in range(10)].count(True) == 5


def test_a_pass_hands_back_the_days_tokens_it_did_not_use(db):
    from mailing.models import SendBudget

    throttle = SharedThrottle(rate=0, daily=100, account="c")
    throttle.refresh()
    assert throttle.reserve(object()) is None
    assert SendBudget.objects.get(account="c", kind="day").used == 20  # a chunk reserved
    throttle.close()
    assert SendBudget.objects.get(account="c", kind="day").used == 1


def test_short_passes_do_not_spend_the_daily_cap(user, make_mailing, smtp_sink, settings):
    settings.MAILING_DAILY_CAP = 30
    for _ in range(3):  # each pass would have kept a chunk of 20 for itself
        mailing = make_mailing(user, recipients=2)
        delivery.start_run(mailing=mailing)
        assert delivery.deliver().sent == 2
    assert smtp_sink.total == 6
