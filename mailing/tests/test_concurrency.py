"""Several senders on one queue: each recipient gets each occurrence exactly once, and a
sender killed mid-run loses nobody and repeats at most the one message in flight."""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from mailing import delivery
from mailing.models import Attempt, Delivery, Mailing, Run

from .senders import manage, run_send_mailing, send_mailing, sender_env

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(condition, *, timeout: float = 60.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def nth_address(run: Run, n: int) -> str:
    """The address of the n-th delivery (from 0) of `run` in the order senders claim them."""
    return (
        Delivery.objects.filter(run=run).order_by("pk").values_list("recipient__email", flat=True)
    )[n]


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
    run = delivery.start_run(mailing=mailing)
    smtp_sink.keep_messages = False
    # Killed while the 170th message waits for its reply: mid-batch, with claims in hand.
    smtp_sink.script(nth_address(run, 170), "slow")
    env = sender_env(smtp_sink, MAILING_COMMIT_EVERY=commit_every, MAILING_BATCH_SIZE="50")

    sender = send_mailing(mailing.pk, env, "--connections", "4")
    assert smtp_sink.stalling.wait(timeout=60), "the sender never reached the slow message"
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


def test_after_a_crash_running_send_mailing_again_finishes_the_run(user, make_mailing, smtp_sink):
    """With no scheduler to requeue them, the claims of a killed sender come back when the
    command is run again (once their lease is over)."""
    mailing = make_mailing(user, recipients=200)
    run = delivery.start_run(mailing=mailing)
    smtp_sink.keep_messages = False
    smtp_sink.script(nth_address(run, 70), "slow")
    env = sender_env(smtp_sink, MAILING_CLAIM_LEASE_SECONDS="1", MAILING_BATCH_SIZE="50")
    crashed = send_mailing(mailing.pk, env, "--connections", "1")
    assert smtp_sink.stalling.wait(timeout=60), "the sender never reached the slow message"
    os.kill(crashed.pid, signal.SIGKILL)
    crashed.wait(timeout=30)
    claimed = Delivery.objects.filter(run=run, state=Delivery.State.CLAIMED)
    assert claimed.exists()
    wait_until(
        lambda: not claimed.filter(lease_expires_at__gte=timezone.now()).exists(),
        what="the dead sender's lease to run out",
    )

    result = run_send_mailing(mailing.pk, sender_env(smtp_sink))

    assert result.returncode == 0, result.stderr
    assert len(smtp_sink.counts) == 200
    assert not Delivery.objects.filter(run=run).exclude(state=Delivery.State.SENT).exists()
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.FINISHED


def test_a_sender_paused_past_its_lease_sends_nothing_another_sender_took_over(
    user, make_mailing, smtp_sink
):
    """SIGSTOP, a paused VM or a hung database: when the sender resumes, the claims it lost
    meanwhile are dropped, not sent again; only the message it had in flight can repeat."""
    mailing = make_mailing(user, recipients=30)
    run = delivery.start_run(mailing=mailing)
    smtp_sink.script(nth_address(run, 0), "slow")
    env = sender_env(smtp_sink, MAILING_CLAIM_LEASE_SECONDS="1", MAILING_BATCH_SIZE="30")
    paused = send_mailing(mailing.pk, env, "--connections", "1")
    assert smtp_sink.stalling.wait(timeout=60), "the sender never reached the slow message"
    os.kill(paused.pid, signal.SIGSTOP)
    try:
        wait_until(
            lambda: delivery.requeue_expired_claims() > 0,
            what="the paused sender's lease to run out",
        )
        assert delivery.deliver(connections=1).sent == 30  # another sender takes the run over
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    _, stderr = paused.communicate(timeout=60)

    assert paused.returncode == 0, stderr
    counts = smtp_sink.counts
    assert len(counts) == 30
    assert sum(counts.values()) <= 31, counts  # the message in flight, at most


def test_a_sent_message_is_recorded_while_another_waits_on_a_slow_server(
    user, make_mailing, smtp_sink
):
    """With grouped commits a record waits for its group, but not much longer than a second:
    not for as long as a slow server takes to answer another message."""
    mailing = make_mailing(user, recipients=2)
    run = delivery.start_run(mailing=mailing)
    fast, slow = Delivery.objects.filter(run=run).order_by("pk")  # claimed in this order
    smtp_sink.slow_seconds = 5
    smtp_sink.script(slow.recipient.email, "slow")
    env = sender_env(
        smtp_sink, MAILING_COMMIT_EVERY="4", MAILING_BATCH_SIZE="1", EMAIL_TIMEOUT="10"
    )
    sender = send_mailing(mailing.pk, env, "--connections", "2")

    wait_until(
        lambda: Delivery.objects.get(pk=fast.pk).state == Delivery.State.SENT,
        what="the first message's record",
    )

    assert smtp_sink.count_for(slow.recipient.email) == 0  # still waiting for its reply
    assert Delivery.objects.get(pk=slow.pk).state == Delivery.State.CLAIMED
    _, stderr = sender.communicate(timeout=60)
    assert sender.returncode == 0, stderr
    assert Delivery.objects.get(pk=slow.pk).state == Delivery.State.SENT


@pytest.mark.parametrize(
    ("command", "signum", "exit_code"),
    [
        ("send_mailing", signal.SIGINT, 130),
        ("send_mailing", signal.SIGTERM, 143),
        ("run_scheduler", signal.SIGTERM, 143),
    ],
    ids=["send_mailing-ctrl-c", "send_mailing-sigterm", "run_scheduler-once-sigterm"],
)
def test_a_signal_stops_a_sender_cleanly_with_everything_sent_recorded(
    user, make_mailing, smtp_sink, command, signum, exit_code
):
    """Ctrl+C, `systemctl stop` or `docker stop`: the message in hand is finished and
    recorded, the rest handed back to the queue, instead of dying like kill -9."""
    mailing = make_mailing(user, recipients=600)  # due: a scheduler tick starts it
    smtp_sink.keep_messages = False
    env = sender_env(smtp_sink, MAILING_COMMIT_EVERY="20", MAILING_BATCH_SIZE="50")
    args = ["run_scheduler", "--once"]
    if command == "send_mailing":
        args = ["send_mailing", str(mailing.pk), "--connections", "4"]

    sender = manage(env, *args)
    wait_until(lambda: smtp_sink.total >= 150, what="the sender to get going")
    sender.send_signal(signum)
    _, stderr = sender.communicate(timeout=60)

    assert sender.returncode == exit_code, stderr
    assert "What was sent is recorded" in stderr
    # Nothing is left leased to the stopped process, and every mail it sent is recorded.
    assert not Delivery.objects.filter(run__mailing=mailing, state="claimed").exists()
    assert Attempt.objects.filter(mailing=mailing, status="success").count() == smtp_sink.total
    assert smtp_sink.total < 600
    delivery.deliver(connections=1)
    assert sorted(set(smtp_sink.counts.values())) == [1]
    assert len(smtp_sink.counts) == 600
