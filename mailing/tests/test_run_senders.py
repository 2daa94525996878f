"""`manage.py run_senders`: queue-draining senders, as a deployment scales out with them."""

import re
import signal

import pytest

from mailing import delivery
from mailing.models import Attempt, Delivery

from .senders import manage, sender_env
from .test_concurrency import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def sent_by(output: str) -> dict[str, int]:
    return {
        name: int(sent) for name, sent in re.findall(r"^(sender \d+): sent (\d+)", output, re.M)
    }


def test_two_sender_processes_deliver_every_run_once_each_and_stop_on_sigterm(
    user, make_mailing, smtp_sink
):
    first = make_mailing(user, recipients=1500)
    second = make_mailing(user, recipients=500)  # every sendable run, not one mailing
    for mailing in (first, second):
        delivery.start_run(mailing=mailing)
    smtp_sink.keep_messages = False
    env = sender_env(smtp_sink, MAILING_BATCH_SIZE="50", MAILING_TICK_SECONDS="1")

    senders = manage(env, "run_senders", "--processes", "2", "--connections", "2")
    queued = Delivery.objects.exclude(state=Delivery.State.SENT)
    wait_until(lambda: not queued.exists(), what="every delivery to be sent and recorded")
    senders.send_signal(signal.SIGTERM)  # while both wait for more work
    stdout, stderr = senders.communicate(timeout=60)

    assert senders.returncode == 143, stderr
    counts = smtp_sink.counts
    assert len(counts) == 2000
    assert set(counts.values()) == {1}
    # Both took part, and what each says it sent adds up.
    by_sender = sent_by(stdout)
    assert sorted(by_sender) == ["sender 1", "sender 2"], stdout
    assert sum(by_sender.values()) == 2000 and min(by_sender.values()) > 0
    assert Attempt.objects.filter(status=Attempt.Status.SUCCESS).count() == 2000


def test_sigterm_in_the_middle_of_a_run_leaves_nothing_claimed_and_everything_sent_recorded(
    user, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=2000)
    delivery.start_run(mailing=mailing)
    smtp_sink.keep_messages = False
    env = sender_env(smtp_sink, MAILING_COMMIT_EVERY="20", MAILING_BATCH_SIZE="50")

    senders = manage(env, "run_senders", "--processes", "2", "--connections", "4")
    wait_until(lambda: smtp_sink.total >= 300, what="the senders to get going")
    senders.send_signal(signal.SIGTERM)
    _, stderr = senders.communicate(timeout=60)

    assert senders.returncode == 143, stderr
    assert "What was sent is recorded" in stderr
    assert smtp_sink.total < 2000
    assert not Delivery.objects.filter(run__mailing=mailing, state="claimed").exists()
    assert Attempt.objects.filter(mailing=mailing, status="success").count() == smtp_sink.total
    delivery.deliver(connections=1)  # the rest, later
    assert len(smtp_sink.counts) == 2000
    assert set(smtp_sink.counts.values()) == {1}


def test_processes_must_be_at_least_one(smtp_sink, db):
    result = manage(sender_env(smtp_sink), "run_senders", "--processes", "0")
    _, stderr = result.communicate(timeout=60)

    assert result.returncode == 1
    assert "--processes must be at least 1." in stderr
