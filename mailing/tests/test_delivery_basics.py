"""The engine end to end against a real SMTP server: every recipient once, records after."""

import pytest

from mailing import delivery
from mailing.models import Attempt, DailyStat, Delivery, Mailing, Run

pytestmark = pytest.mark.django_db(transaction=True)


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
    assert message.get_payload(decode=True).decode().strip() == "Hello ✓"

    delivery.finish_completed()
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.FINISHED
    assert Run.objects.get(pk=run.pk).finished_at is not None
