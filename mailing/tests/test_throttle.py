"""The throttle seam: the sender asks it before every message; it may make the sender wait, or
hand a claim back to the queue for later without counting a try."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from mailing import delivery
from mailing.delivery import Hold, Policy, RetryPolicy, Throttle
from mailing.models import Attempt, Delivery


class Recording(Throttle):
    """Answers what `answer` says, and notes each question and what the server had by then."""

    def __init__(self, sink, answer=lambda claim, asked: None) -> None:
        self.sink = sink
        self.answer = answer
        self.asked: list[tuple[int, int]] = []  # (delivery id, messages the sink had)
        self.refreshed = 0

    def reserve(self, claim):
        self.asked.append((claim.delivery_id, self.sink.total))
        return self.answer(claim, [a for a, _ in self.asked].count(claim.delivery_id))

    def refresh(self) -> None:
        self.refreshed += 1


def with_throttle(throttle: Throttle) -> Policy:
    return Policy(retry=RetryPolicy.from_settings(), throttle=throttle)


@pytest.fixture
def run(user, make_mailing, smtp_sink, settings):
    settings.MAILING_SENDER_CONNECTIONS = 1
    return delivery.start_run(mailing=make_mailing(user, recipients=4))


def delivery_ids(run) -> list[int]:
    return list(Delivery.objects.filter(run=run).order_by("pk").values_list("pk", flat=True))


def test_the_default_throttle_holds_nothing_back():
    assert Policy.from_settings().throttle.reserve(object()) is None


def test_the_sender_asks_the_throttle_before_each_message(run, smtp_sink):
    throttle = Recording(smtp_sink)

    report = delivery.deliver(policy=with_throttle(throttle))

    assert report.sent == 4
    # One question per message, each before that message reached the server.
    assert throttle.asked == [(pk, n) for n, pk in enumerate(delivery_ids(run))]
    assert throttle.refreshed >= 1  # and it had its turn between the loop's turns


def test_a_throttle_that_asks_to_wait_delays_messages_and_loses_none(run, smtp_sink):
    throttle = Recording(smtp_sink, lambda claim, asked: Hold(seconds=0.01) if asked == 1 else None)

    report = delivery.deliver(policy=with_throttle(throttle))

    assert report.sent == 4
    assert sorted(smtp_sink.counts.values()) == [1, 1, 1, 1]
    asked = [pk for pk, _ in throttle.asked]
    assert all(asked.count(pk) == 2 for pk in delivery_ids(run))


def test_a_throttle_that_defers_hands_claims_back_due_later_without_a_try(run, smtp_sink):
    """Over a daily cap: the rest of the run waits for the next window, it does not fail."""
    window = timezone.now().replace(microsecond=0) + timedelta(hours=3)
    let_through = set(delivery_ids(run)[:1])
    throttle = Recording(
        smtp_sink,
        lambda claim, asked: None if claim.delivery_id in let_through else Hold(until=window),
    )

    report = delivery.deliver(policy=with_throttle(throttle))

    assert (report.sent, report.attempted, report.postponed) == (1, 1, 3)
    assert smtp_sink.total == 1
    assert Attempt.objects.filter(run=run).count() == 1  # no try recorded for the others
    waiting = Delivery.objects.filter(run=run).exclude(pk__in=let_through)
    for row in waiting:
        assert (row.state, row.tries, row.next_try_at) == (Delivery.State.PENDING, 0, window)
        assert row.claim_token is None and row.lease_expires_at is None
    assert delivery.deliver().attempted == 0  # not due before the window

    with time_machine.travel(window + timedelta(seconds=1)):
        assert delivery.deliver().sent == 3
    assert sorted(smtp_sink.counts.values()) == [1, 1, 1, 1]
