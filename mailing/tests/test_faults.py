"""Every kind of SMTP failure ends in the right attempt rows, final states and retries.

The SMTP server is real (aiosmtpd on loopback) and misbehaves on cue, per recipient."""

from datetime import timedelta

import pytest
import time_machine
from django.db.models import Sum
from django.utils import timezone

from mailing import delivery
from mailing.models import Attempt, DailyStat, Delivery, Mailing, Message
from mailing.smtp_sink import free_port

PENDING, SENT, FAILED = Delivery.State.PENDING, Delivery.State.SENT, Delivery.State.FAILED


@pytest.fixture
def mailing(user, make_mailing, smtp_sink, settings) -> Mailing:
    settings.MAILING_SENDER_CONNECTIONS = 1
    return make_mailing(user, recipients=3)


def addresses(mailing: Mailing) -> list[str]:
    return list(mailing.recipients.order_by("email").values_list("email", flat=True))


def state_of(mailing: Mailing, email: str) -> Delivery:
    return Delivery.objects.get(run__mailing=mailing, recipient__email=email)


def attempts_of(mailing: Mailing, email: str) -> list[tuple[str, str]]:
    rows = Attempt.objects.filter(mailing=mailing, email=email).order_by("attempted_at", "pk")
    return [(a.status, a.server_response) for a in rows]


@pytest.mark.parametrize(
    ("script", "reply_start"),
    [
        ("421", "421 4.3.2"),
        ("451", "451 4.3.0"),
        ("452", "452 4.2.2"),
        ("disconnect", "The mail server closed the connection"),
        ("slow", "No reply from the mail server within 1 s"),
        ("garbage", "Unreadable reply from the mail server: HELLO this is not SMTP"),
    ],
)
def test_temporary_failures_are_retried_later_and_the_others_still_go_out(
    mailing, smtp_sink, script, reply_start
):
    first, *others = addresses(mailing)
    smtp_sink.script(first, script)
    delivery.start_run(mailing=mailing)

    before = timezone.now()
    report = delivery.deliver()

    assert (report.sent, report.deferred, report.failed) == (2, 1, 0)
    for email in others:
        assert smtp_sink.count_for(email) == 1
        assert state_of(mailing, email).state == SENT
    failed = state_of(mailing, first)
    assert (failed.state, failed.tries) == (PENDING, 1)
    # First retry after MAILING_RETRY_BASE_SECONDS (60 in these tests).
    assert (
        before + timedelta(seconds=59) < failed.next_try_at < timezone.now() + timedelta(seconds=61)
    )
    [(status, response)] = attempts_of(mailing, first)
    assert status == Attempt.Status.FAILURE
    assert response.startswith(reply_start)
    assert "try 1 of 3" in response


def test_a_mailbox_full_reply_then_success_ends_sent_with_both_tries_recorded(mailing, smtp_sink):
    first = addresses(mailing)[0]
    smtp_sink.script(first, "452")
    delivery.start_run(mailing=mailing)
    delivery.deliver()

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        report = delivery.deliver()

    assert report.sent == 1
    assert smtp_sink.count_for(first) == 1
    assert state_of(mailing, first).state == SENT
    assert [status for status, _ in attempts_of(mailing, first)] == ["failure", "success"]
    # Summed over days: the retry a minute later may fall on the next one (run near midnight).
    totals = DailyStat.objects.filter(mailing=mailing).aggregate(
        ok=Sum("successes"), ko=Sum("failures")
    )
    assert (totals["ok"], totals["ko"]) == (3, 1)


def test_retries_back_off_exponentially_then_give_up(mailing, smtp_sink):
    first = addresses(mailing)[0]
    smtp_sink.script(first, "451", "451", "451")
    delivery.start_run(mailing=mailing)
    delivery.deliver()

    gaps = []
    for _ in range(2):
        pending = state_of(mailing, first)
        last_try = Attempt.objects.filter(mailing=mailing, email=first).latest("attempted_at")
        gaps.append((pending.next_try_at - last_try.attempted_at).total_seconds())
        with time_machine.travel(pending.next_try_at + timedelta(seconds=1)):
            delivery.deliver()

    assert gaps == [60, 120]
    final = state_of(mailing, first)
    assert (final.state, final.tries) == (FAILED, 3)
    assert [status for status, _ in attempts_of(mailing, first)] == ["failure"] * 3
    assert "next at" not in attempts_of(mailing, first)[-1][1]  # the last one is final
    assert smtp_sink.count_for(first) == 0


@pytest.mark.parametrize(
    ("script", "reply_start"),
    [("550", "550 5.1.1"), ("554", "554 5.7.1"), ("rcpt:550", "550 5.1.1")],
)
def test_permanent_failures_fail_at_once_with_the_server_reply(
    mailing, smtp_sink, script, reply_start
):
    first, *others = addresses(mailing)
    smtp_sink.script(first, script)
    delivery.start_run(mailing=mailing)

    report = delivery.deliver()

    assert (report.sent, report.failed, report.deferred) == (2, 1, 0)
    failed = state_of(mailing, first)
    assert (failed.state, failed.tries) == (FAILED, 1)
    [(status, response)] = attempts_of(mailing, first)
    assert status == Attempt.Status.FAILURE
    assert response.startswith(reply_start)
    assert all(smtp_sink.count_for(email) == 1 for email in others)


def test_a_server_that_is_down_gets_every_try_recorded_and_retried(mailing, settings):
    settings.EMAIL_PORT = free_port()  # nothing listens there
    delivery.start_run(mailing=mailing)

    report = delivery.deliver()

    assert (report.sent, report.deferred) == (0, 3)
    for email in addresses(mailing):
        assert state_of(mailing, email).state == PENDING
        [(_, response)] = attempts_of(mailing, email)
        assert response.startswith("Connection refused by the mail server")
    # Nothing is due before the backoff: another pass sends nothing and records nothing.
    assert delivery.deliver().attempted == 0
    assert Attempt.objects.filter(mailing=mailing).count() == 3


@pytest.mark.django_db(transaction=True)  # jobs manage their own connections, like the process
def test_the_scheduler_survives_a_server_that_is_down(user, make_mailing, settings, smtp_sink):
    from mailing import jobs

    settings.EMAIL_PORT = free_port()
    mailing = make_mailing(user, recipients=2)
    delivery.start_run(mailing=mailing)

    jobs.deliver_pending()  # must not raise
    jobs.finish_completed()

    assert Attempt.objects.filter(mailing=mailing, status=Attempt.Status.FAILURE).count() == 2


@pytest.mark.parametrize(
    ("refuse", "reply_start"),
    [
        (lambda sink: sink.refuse_greeting("554 5.7.1 Client host blocked"), "554 5.7.1"),
        (lambda sink: sink.refuse_mail_from(*["550 5.7.1 Sender rejected"] * 3), "550 5.7.1"),
        (lambda sink: sink.refuse_mail_from("530", "530", "530"), "530 5.7.0"),
    ],
    ids=["greeting", "sender", "authentication"],
)
def test_a_refused_session_is_retried_later_and_fails_nobody(
    mailing, smtp_sink, refuse, reply_start
):
    """A 5xx to the greeting or MAIL FROM is about our session (a blocked host, a bad
    password, a refused sender), not the recipient: every recipient stays queued for a retry
    with the server's text kept, and goes out once the session is accepted again."""
    refuse(smtp_sink)
    delivery.start_run(mailing=mailing)

    report = delivery.deliver()

    assert (report.sent, report.failed, report.deferred) == (0, 0, 3)
    for email in addresses(mailing):
        pending = state_of(mailing, email)
        assert (pending.state, pending.tries) == (PENDING, 1)
        [(status, response)] = attempts_of(mailing, email)
        assert status == Attempt.Status.FAILURE
        assert response.startswith(reply_start)
        assert "try 1 of 3" in response
    assert smtp_sink.total == 0

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert delivery.deliver().sent == 3
    assert sorted(smtp_sink.counts.values()) == [1, 1, 1]


def test_control_characters_in_a_reply_are_stored_as_spaces(mailing, smtp_sink, settings):
    """A NUL cannot be stored in PostgreSQL text; with grouped commits it would have failed
    the records of the whole group, not only its own."""
    settings.MAILING_COMMIT_EVERY = 4
    first, second, _ = addresses(mailing)
    smtp_sink.script(first, "250 2.0.0 Ok: queued as\x00AB12")
    smtp_sink.script(second, "451 4.7.1 Greylisted,\x07\x1b[31m try later")
    delivery.start_run(mailing=mailing)

    report = delivery.deliver()

    assert (report.sent, report.deferred) == (2, 1)
    assert attempts_of(mailing, first) == [("success", "250 2.0.0 Ok: queued as AB12")]
    [(_, response)] = attempts_of(mailing, second)
    assert response.startswith("451 4.7.1 Greylisted, [31m try later (try 1 of 3")


def test_a_message_that_cannot_be_built_fails_each_delivery_once_with_the_reason(
    mailing, smtp_sink
):
    """A subject with a line break written straight to the database: the email package
    refuses it. Each delivery fails for good with the reason instead of the batch staying
    claimed, and being claimed and failing again every lease."""
    Message.objects.filter(pk=mailing.message_id).update(subject="Hi\nBcc: all@example.net")
    delivery.start_run(mailing=mailing)

    report = delivery.deliver()

    assert (report.sent, report.failed, report.deferred) == (0, 3, 0)
    assert not Delivery.objects.filter(run__mailing=mailing).exclude(state=FAILED).exists()
    for email in addresses(mailing):
        [(status, response)] = attempts_of(mailing, email)
        assert status == Attempt.Status.FAILURE
        assert response.startswith("Not sent: the message cannot be built (")
        assert "linefeed" in response
    assert smtp_sink.total == 0
