"""The engine end to end against a real SMTP server: every recipient once, records after."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mailing import delivery
from mailing.models import Attempt, DailyStat, Delivery, Mailing, Recipient, Run

pytestmark = pytest.mark.django_db(transaction=True)


def body_of(message) -> str:
    """The body the owner wrote: what comes before the unsubscribe footer's "-- " line."""
    text = message.get_payload(decode=True).decode().replace("\r\n", "\n")
    return text.split("\n-- \n")[0].strip()


def test_a_run_delivers_each_recipient_once_and_records_every_attempt(
    user, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=5, subject="Spring news", body="Hello ✓")

    run = delivery.start_run(mailing=mailing)
    report = delivery.deliver()

    assert report.sent == 5
    assert sorted(smtp_sink.counts.values()) == [1] * 5
    assert set(smtp_sink.counts) == {r.email.lower() for r in mailing.recipients.all()}
    assert Delivery.objects.filter(run=run, state=Delivery.State.SENT).count() == 5
    attempts = Attempt.objects.filter(mailing=mailing)
    assert attempts.count() == 5
    assert all(a.status == Attempt.Status.SUCCESS for a in attempts)
    assert all(a.server_response.startswith("250") for a in attempts)
    stat = DailyStat.objects.get(mailing=mailing)
    assert (stat.successes, stat.failures) == (5, 0)
    message = smtp_sink.received[0].message
    assert message["Subject"] == "Spring news"
    assert message["Reply-To"] == user.email
    assert body_of(message) == "Hello ✓"

    delivery.finish_completed()
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.FINISHED
    assert Run.objects.get(pk=run.pk).finished_at is not None


def test_records_committed_one_by_one_keep_every_outcome_and_the_daily_totals(
    user, make_mailing, smtp_sink, settings
):
    """The default commit-per-message path (a prepared statement on PostgreSQL) records
    successes, temporary and permanent failures as faithfully as grouped commits do."""
    settings.MAILING_COMMIT_EVERY = 1
    mailing = make_mailing(user, recipients=3)
    busy, gone, fine = mailing.recipients.order_by("email").values_list("email", flat=True)
    smtp_sink.script(busy, "451")
    smtp_sink.script(gone, "550")
    run = delivery.start_run(mailing=mailing)

    before = timezone.now()
    report = delivery.deliver(connections=2)

    assert (report.sent, report.deferred, report.failed) == (1, 1, 1)
    states = {
        d.recipient.email: d for d in Delivery.objects.filter(run=run).select_related("recipient")
    }
    assert (states[fine].state, states[fine].tries) == (Delivery.State.SENT, 1)
    assert (states[gone].state, states[gone].tries) == (Delivery.State.FAILED, 1)
    assert (states[busy].state, states[busy].tries) == (Delivery.State.PENDING, 1)
    assert states[busy].next_try_at >= before + timedelta(seconds=60)
    assert all(d.claim_token is None and d.lease_expires_at is None for d in states.values())
    replies = dict(Attempt.objects.filter(run=run).values_list("email", "server_response"))
    assert replies[fine].startswith("250") and replies[gone].startswith("550")
    assert replies[busy].startswith("451") and "try 1 of 3" in replies[busy]
    stat = DailyStat.objects.get(mailing=mailing)
    assert (stat.successes, stat.failures) == (1, 2)


def test_a_display_name_with_line_breaks_cannot_inject_headers_or_smtp_commands(
    user, make_mailing, smtp_sink
):
    """The form refuses such a name, but the transport must be safe whatever the database
    holds: the head of a message is not dot-stuffed, so a CRLF "." CRLF in it would end the
    message and everything after it would run as SMTP commands."""
    mailing = make_mailing(user, recipients=1)
    recipient = mailing.recipients.get()
    injected = (
        "Eve\r\nBcc: victim@example.net\r\n\r\n.\r\nMAIL FROM:<spam@example.net>\r\n"
        "RCPT TO:<victim@example.net>\r\nDATA\r\nSubject: injected\r\n\r\nspam\r\n.\r\n\x0b"
    )
    Recipient.objects.filter(pk=recipient.pk).update(full_name=injected)
    delivery.start_run(mailing=mailing)

    report = delivery.deliver()

    assert report.sent == 1
    [received] = smtp_sink.received
    assert received.rcpt_to == recipient.email
    message = received.message
    [to] = message.get_all("To")
    assert to.startswith('"Eve  Bcc: victim@example.net')
    assert to.endswith(f"<{recipient.email}>")
    assert message["Bcc"] is None
    assert message.get_all("Subject") == ["Hello"]
    assert body_of(message) == "Hello there."


def test_records_still_commit_after_the_server_forgot_the_prepared_statement(
    user, make_mailing, smtp_sink, settings
):
    """On PostgreSQL a record is one prepared statement per connection; a DISCARD ALL or a
    pooler that hands us another session makes the server forget it. (SQLite has no prepared
    statements: there this shows that records go on being written.)"""
    settings.MAILING_COMMIT_EVERY = 1
    first = make_mailing(user, recipients=2)
    delivery.start_run(mailing=first)
    assert delivery.deliver(connections=1).sent == 2  # prepared on this connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")

    second = make_mailing(user, recipients=2)
    delivery.start_run(mailing=second)
    report = delivery.deliver(connections=1)

    assert report.sent == 2
    assert Attempt.objects.filter(mailing=second, status=Attempt.Status.SUCCESS).count() == 2
    assert smtp_sink.total == 4


@pytest.mark.django_db(transaction=False)
def test_a_claim_reads_its_batch_off_the_queue_index_without_sorting_the_run(user, make_mailing):
    """A claim's cost must not grow with the run: the plan walks the (run, next_try_at, id)
    index and stops after the batch, instead of sorting every pending delivery of the run
    (which made each claim of a 100,000-recipient run take tens of milliseconds)."""
    mailing = make_mailing(user, recipients=300)
    delivery.start_run(mailing=mailing)

    with CaptureQueriesContext(connection) as captured:
        claims = delivery.claim_batch(limit=50, lease_seconds=60)

    assert len(claims) == 50
    [select] = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('SELECT "mailing_delivery"."id"') and "LIMIT 50" in q["sql"]
    ]
    plan = explain(select)
    assert "mailing_delivery_queue_idx" in plan, plan
    assert "sort" not in plan.lower() and "TEMP B-TREE" not in plan, plan


def explain(sql: str) -> str:
    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(prefix + sql)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())
