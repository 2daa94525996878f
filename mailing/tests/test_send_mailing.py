"""`manage.py send_mailing <id>` as an operator runs it: a real process, real exit codes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mailing import delivery
from mailing.models import Attempt, Mailing

from .senders import run_send_mailing, sender_env, unreachable_database_url

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_sends_the_mailing_with_a_progress_bar_and_a_summary(user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=5, first_send_at=timezone.now() + timedelta(days=1))

    result = run_send_mailing(mailing.pk, sender_env(smtp_sink))

    assert result.returncode == 0, result.stderr
    assert f"Started a new run of mailing {mailing.pk}" in result.stdout
    assert "[##############################] 100% 5/5" in result.stdout
    assert "Sent 5, failed 0, retry later 0, skipped 0" in result.stdout
    assert "msg/s" in result.stdout
    assert smtp_sink.total == 5
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.FINISHED


def test_the_progress_bar_ends_where_the_work_did_when_part_was_taken_by_another_sender(
    user, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=5)
    delivery.start_run(mailing=mailing)
    assert len(delivery.claim_batch(limit=2, lease_seconds=300)) == 2  # another sender's

    result = run_send_mailing(mailing.pk, sender_env(smtp_sink))

    assert result.returncode == 0, result.stderr
    assert f"Continuing the open run of mailing {mailing.pk}" in result.stdout
    assert "[##################------------]  60% 3/5" in result.stdout
    assert "100%" not in result.stdout
    assert "Sent 3, failed 0, retry later 0, skipped 2" in result.stdout
    assert smtp_sink.total == 3


def test_failures_are_counted_in_the_summary(user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=3)
    first, second, _ = mailing.recipients.order_by("email").values_list("email", flat=True)
    smtp_sink.script(first, "550")
    smtp_sink.script(second, "451")

    result = run_send_mailing(mailing.pk, sender_env(smtp_sink, MAILING_SENDER_CONNECTIONS="1"))

    assert result.returncode == 0, result.stderr
    assert "Sent 1, failed 1, retry later 1" in result.stdout
    assert Attempt.objects.filter(mailing=mailing).count() == 3


def _finished(mailing: Mailing) -> None:
    Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.FINISHED)


def _disabled(mailing: Mailing) -> None:
    Mailing.objects.filter(pk=mailing.pk).update(is_disabled=True)


def _blocked(mailing: Mailing) -> None:
    type(mailing.owner).objects.filter(pk=mailing.owner_id).update(is_blocked=True)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_finished, "not sent: This mailing has finished; schedule it to send it again."),
        (_disabled, "not sent: A manager has disabled this mailing."),
        (_blocked, "not sent: The owner's account is blocked."),
    ],
)
def test_it_refuses_with_a_clear_message_and_a_non_zero_exit(
    user, make_mailing, smtp_sink, spoil, message
):
    mailing = make_mailing(user, recipients=2)
    spoil(mailing)

    result = run_send_mailing(mailing.pk, sender_env(smtp_sink))

    assert result.returncode == 1
    assert f"CommandError: Mailing {mailing.pk} {message}" in result.stderr
    assert smtp_sink.total == 0


def test_an_unknown_id_exits_non_zero(smtp_sink, db):
    result = run_send_mailing(999_999, sender_env(smtp_sink))

    assert result.returncode == 1
    assert "Mailing 999999 does not exist." in result.stderr


def test_a_mail_server_that_refuses_everything_is_an_error(user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=2)
    for email in mailing.recipients.values_list("email", flat=True):
        smtp_sink.script(email, "554")

    result = run_send_mailing(mailing.pk, sender_env(smtp_sink))

    assert result.returncode == 1
    assert "No message could be delivered. Last reply: 554 5.7.1" in result.stderr


def test_a_database_it_cannot_reach_is_a_one_line_error_not_a_traceback(smtp_sink, db):
    result = run_send_mailing(1, sender_env(smtp_sink, DATABASE_URL=unreachable_database_url()))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("CommandError")]
    assert error.startswith("CommandError: Mailing 1: database error: OperationalError: ")
