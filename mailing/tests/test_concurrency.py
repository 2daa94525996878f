"""Several senders on one queue: each recipient gets each occurrence exactly once, and a
sender killed mid-run loses nobody and repeats at most the one message in flight."""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from mailing import delivery
from mailing.models import Attempt, Delivery, Mailing

from .senders import send_mailing, sender_env

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(condition, *, timeout: float = 60.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_two_sender_processes_share_a_run_and_deliver_each_address_exactly_once(
    user, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=2000)
    delivery.start_run(mailing=mailing)
    env = sender_env(smtp_sink, MAILING_BATCH_SIZE="50")
    smtp_sink.keep_messages = False

    senders = [send_mailing(mailing.pk, env, "--connections", "2") for _ in range(2)]
    outputs = [sender.communicate(timeout=300) for sender in senders]

    assert [sender.returncode for sender in senders] == [0, 0], outputs
    counts = smtp_sink.counts
    assert len(counts) == 2000
    assert set(counts.values()) == {1}
    # Both did real work: neither took the whole queue.
    sent_by = [int(out.split("Sent ", 1)[1].split(",", 1)[0]) for out, _ in outputs]
    assert sum(sent_by) == 2000 and min(sent_by) > 0
    assert Attempt.objects.filter(mailing=mailing, status="success").count() == 2000
    assert not Delivery.objects.filter(run__mailing=mailing).exclude(state="sent").exists()


@pytest.mark.parametrize(("commit_every", "max_repeats"), [("1", 1), ("20", 20)])
def test_a_sender_killed_mid_run_loses_nobody_and_repeats_at_most_its_commit_group(
    user, make_mailing, smtp_sink, commit_every, max_repeats
):
    mailing = make_mailing(user, recipients=600)
    delivery.start_run(mailing=mailing)
    smtp_sink.keep_messages = False
    env = sender_env(smtp_sink, MAILING_COMMIT_EVERY=commit_every, MAILING_BATCH_SIZE="50")

    sender = send_mailing(mailing.pk, env, "--connections", "4")
    wait_until(lambda: smtp_sink.total >= 150, what="the sender to get going")
    os.kill(sender.pid, signal.SIGKILL)
    sender.wait(timeout=30)
    delivered_before_crash = smtp_sink.total

    # Its claims are stuck until their lease runs out; then any sender takes over.
    assert Delivery.objects.filter(run__mailing=mailing, state="claimed").exists()
    assert delivery.requeue_expired_claims() == 0
    later = timezone.now() + timedelta(seconds=301)
    assert delivery.requeue_expired_claims(now=later) > 0
    delivery.deliver(connections=1)
    delivery.finish_completed()

    counts = smtp_sink.counts
    assert len(counts) == 600, "every recipient received the mail"
    repeats = sum(counts.values()) - 600
    assert repeats <= max_repeats
    assert delivered_before_crash < 600
    # Each delivery is recorded as sent exactly once, duplicates or not.
    assert Attempt.objects.filter(mailing=mailing, status="success").count() == 600
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.FINISHED


def test_ctrl_c_stops_a_sender_cleanly_with_everything_sent_recorded(user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=600)
    delivery.start_run(mailing=mailing)
    smtp_sink.keep_messages = False
    env = sender_env(smtp_sink, MAILING_COMMIT_EVERY="20", MAILING_BATCH_SIZE="50")

    sender = send_mailing(mailing.pk, env, "--connections", "4")
    wait_until(lambda: smtp_sink.total >= 150, what="the sender to get going")
    sender.send_signal(signal.SIGINT)
    _, stderr = sender.communicate(timeout=60)

    assert sender.returncode == 130
    assert "What was sent is recorded" in stderr
    # Nothing is left leased to the stopped process, and every mail it sent is recorded.
    assert not Delivery.objects.filter(run__mailing=mailing, state="claimed").exists()
    assert Attempt.objects.filter(mailing=mailing, status="success").count() == smtp_sink.total
    delivery.deliver(connections=1)
    assert sorted(set(smtp_sink.counts.values())) == [1]
    assert len(smtp_sink.counts) == 600
