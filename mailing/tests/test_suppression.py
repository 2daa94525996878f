"""One-click unsubscribe, suppression and bounces, end to end: the headers on every delivered
message (a real SMTP server on loopback, the bytes parsed with `email`), the unsubscribe page,
the next run skipping the address, and 5xx replies turned into suppressions."""

from email import message_from_bytes
from email.policy import default
from urllib.parse import urlsplit

import pytest
from django.test import Client

from mailing import delivery, selectors, services
from mailing.models import Attempt, Delivery, Mailing, Recipient, Suppression
from mailing.unsubscribe import make_token

pytestmark = pytest.mark.django_db(transaction=True)


def deliver_run(mailing):
    """One run of `mailing`, delivered and closed (the mailing may run again after it)."""
    Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.CREATED)
    run = delivery.start_run(mailing=mailing)
    report = delivery.deliver()
    delivery.finish_completed()
    return run, report


def link_of(received) -> str:
    return message_from_bytes(received.data, policy=default)["List-Unsubscribe"].strip("<>")


def test_every_message_carries_both_headers_with_an_absolute_url(user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=3)

    deliver_run(mailing)

    assert len(smtp_sink.received) == 3
    for received in smtp_sink.received:
        message = message_from_bytes(received.data, policy=default)
        url = urlsplit(link_of(received))
        assert (url.scheme, url.netloc) == ("http", "testserver")
        assert url.path.startswith("/u/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert link_of(received) in message.get_content()
        assert message["Message-ID"].endswith("@localhost>")  # the site address's domain
        assert message["From"].addresses[0].addr_spec == "noreply@localhost"


def test_a_get_changes_nothing_and_a_post_without_login_or_csrf_unsubscribes(
    user, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=2)
    deliver_run(mailing)
    received = smtp_sink.received[0]
    path = urlsplit(link_of(received)).path
    client = Client(enforce_csrf_checks=True)

    page = client.get(path)
    assert page.status_code == 200
    assert b'<form method="post">' in page.content
    assert not Suppression.objects.exists()

    answer = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    suppression = Suppression.objects.get()
    assert (suppression.owner_id, suppression.email) == (user.pk, received.rcpt_to)
    assert suppression.reason == Suppression.Reason.UNSUBSCRIBED
    assert client.post(path).status_code == 200  # again: still one, nothing else changes
    assert Suppression.objects.count() == 1


@pytest.mark.parametrize("kind", ["tampered", "foreign", "truncated", "garbage"])
def test_a_bad_token_gets_a_400_page_and_changes_nothing(user, kind, settings):
    token = make_token(owner_id=user.pk, email="anna@example.org")
    if kind == "tampered":
        token = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    elif kind == "foreign":
        settings.SECRET_KEY = "another-site"
        token = make_token(owner_id=user.pk, email="anna@example.org")
        settings.SECRET_KEY = "test-secret-key-not-for-production"
    elif kind == "truncated":
        token = token[:-6]
    else:
        token = "not-a-token"
    client = Client(enforce_csrf_checks=True)

    for answer in (client.get(f"/u/{token}/"), client.post(f"/u/{token}/")):
        assert answer.status_code == 400
        assert b"not valid" in answer.content
    assert not Suppression.objects.exists()


def test_the_next_run_skips_an_unsubscribed_address_counts_it_and_a_reimport_keeps_it(
    user, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=3)
    leaving = mailing.recipients.order_by("email").first()
    Client().post(f"/u/{make_token(owner_id=user.pk, email=leaving.email.upper())}/")

    run, report = deliver_run(mailing)

    assert report.sent == 2
    assert leaving.email not in smtp_sink.counts
    skipped = Delivery.objects.get(run=run, recipient=leaving)
    assert skipped.state == Delivery.State.SKIPPED
    attempt = Attempt.objects.get(run=run, recipient=leaving)
    assert attempt.status == Attempt.Status.SKIPPED
    assert attempt.server_response == "Not sent: the address unsubscribed"
    progress = selectors.latest_run_progress(mailing=mailing)
    assert (progress.sent, progress.skipped, progress.failed, progress.percent) == (2, 1, 0, 100)
    assert selectors.recent_runs(mailing=mailing)[0].skipped == 1  # type: ignore[attr-defined]

    # Deleted and added again (as an import does): still suppressed, in every mailing.
    services.recipient_delete(user=user, recipient=leaving)
    again = services.recipient_create(owner=user, email=leaving.email, full_name="Back")
    other = make_mailing(user, recipients=[again, *Recipient.objects.exclude(pk=again.pk)])
    smtp_sink.clear()
    run, report = deliver_run(other)
    assert Delivery.objects.get(run=run, recipient=again).state == Delivery.State.SKIPPED
    assert again.email not in smtp_sink.counts


def test_an_unsubscribe_skips_what_is_already_queued(user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=2)
    run = delivery.start_run(mailing=mailing)
    leaving = mailing.recipients.first()
    Client().post(f"/u/{make_token(owner_id=user.pk, email=leaving.email)}/")

    report = delivery.deliver()

    assert report.sent == 1
    assert Delivery.objects.get(run=run, recipient=leaving).state == Delivery.State.SKIPPED


def test_another_owners_suppression_does_not_skip(user, other_user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=1)
    email = mailing.recipients.get().email
    Suppression.objects.create(owner=other_user, email=email, reason="unsubscribed")

    _, report = deliver_run(mailing)

    assert report.sent == 1


def test_a_550_511_suppresses_at_once(user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=2)
    gone, _fine = mailing.recipients.order_by("email").values_list("email", flat=True)
    smtp_sink.script(gone, "550 5.1.1 <user>: Recipient address rejected: User unknown")

    deliver_run(mailing)

    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == (gone, Suppression.Reason.BOUNCED)
    assert "5.1.1" in suppression.detail
    smtp_sink.clear()
    run, report = deliver_run(mailing)
    assert report.sent == 1 and smtp_sink.count_for(gone) == 0
    attempt = Attempt.objects.get(run=run, email=gone)
    assert attempt.status == Attempt.Status.SKIPPED
    assert attempt.server_response.startswith("Not sent: the address bounced (550 5.1.1")


def test_a_550_on_rcpt_saying_the_mailbox_is_unavailable_suppresses_at_once(
    user, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=1)
    email = mailing.recipients.get().email
    smtp_sink.script(email, "rcpt:550 Requested action not taken: mailbox unavailable")

    deliver_run(mailing)

    assert Suppression.objects.get().email == email


def test_other_5xx_suppress_after_the_bounce_limit_in_a_row(
    user, make_mailing, smtp_sink, settings
):
    settings.MAILING_BOUNCE_LIMIT = 3
    mailing = make_mailing(user, recipients=1)
    email = mailing.recipients.get().email
    for number in range(1, 4):
        smtp_sink.script(email, "554 5.7.1 Message rejected as spam")
        deliver_run(mailing)
        assert Suppression.objects.exists() == (number == 3), number
    assert Suppression.objects.get().reason == Suppression.Reason.BOUNCED


def test_a_success_in_between_starts_the_count_again(user, make_mailing, smtp_sink, settings):
    settings.MAILING_BOUNCE_LIMIT = 2
    mailing = make_mailing(user, recipients=1)
    email = mailing.recipients.get().email
    for action in ("554", "250", "554"):
        smtp_sink.script(email, action)
        deliver_run(mailing)
    assert not Suppression.objects.exists()


def test_4xx_never_suppresses(user, make_mailing, smtp_sink, settings):
    settings.MAILING_BOUNCE_LIMIT = 1
    settings.MAILING_MAX_TRIES = 1  # each 4xx is the delivery's last try: failed, not retried
    mailing = make_mailing(user, recipients=1)
    email = mailing.recipients.get().email
    for _ in range(3):
        smtp_sink.script(email, "450 4.2.1 Mailbox busy")
        deliver_run(mailing)
    assert Attempt.objects.filter(status=Attempt.Status.FAILURE).count() == 3
    assert not Suppression.objects.exists()


def test_only_a_bounce_may_be_lifted(user, make_mailing):
    bounced = Suppression.objects.create(owner=user, email="a@example.org", reason="bounced")
    unsubscribed = Suppression.objects.create(
        owner=user, email="b@example.org", reason="unsubscribed"
    )

    services.suppression_lift(user=user, suppression=bounced)
    with pytest.raises(services.ActionRefused):
        services.suppression_lift(user=user, suppression=unsubscribed)

    assert list(Suppression.objects.values_list("email", flat=True)) == ["b@example.org"]


def test_an_unsubscribe_turns_a_bounce_into_an_unsubscribe(user):
    Suppression.objects.create(owner=user, email="a@example.org", reason="bounced")
    Client().post(f"/u/{make_token(owner_id=user.pk, email='a@example.org')}/")
    assert Suppression.objects.get().reason == Suppression.Reason.UNSUBSCRIBED


def test_the_unsubscribe_page_speaks_the_visitors_language(user):
    token = make_token(owner_id=user.pk, email="anna@example.org")
    page = Client().get(f"/u/{token}/", HTTP_ACCEPT_LANGUAGE="ru")
    assert "Отписаться" in page.content.decode()
    bad = Client().get("/u/garbage/", HTTP_ACCEPT_LANGUAGE="ru")
    assert bad.status_code == 400 and "недействительна" in bad.content.decode()
