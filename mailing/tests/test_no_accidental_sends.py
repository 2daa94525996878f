"""No accidental sends: the new-mailing form does not fill in the first send, says what Save
will do (one selector: `selectors.save_outcome` over `selectors.audience_size`), asks before a
save that sends at once, and can save a draft that sends nothing."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mailing import delivery, selectors
from mailing.models import Mailing, Message, Recipient, Run

pytestmark = pytest.mark.django_db
FORMAT = "%Y-%m-%dT%H:%M"


@pytest.fixture
def parts(user):
    message = Message.objects.create(owner=user, subject="S", body="B")
    recipients = [
        Recipient.objects.create(owner=user, email=f"r{i}@example.org", full_name=f"R{i}")
        for i in range(5)
    ]
    return message, recipients


def data(message, recipients, *, first, start="start", **extra):
    return {
        "message": message.pk,
        "recipients": [r.pk for r in recipients],
        "first_send_at": timezone.localtime(first).strftime(FORMAT),
        "end_at": timezone.localtime(first + timedelta(days=3)).strftime(FORMAT),
        "periodicity": "once",
        "start": start,
        **extra,
    }


def test_the_new_form_leaves_the_first_send_empty_and_says_what_save_does(user, client_for, parts):
    page = client_for(user).get(reverse("mailing:mailing_create"))
    form = page.context["form"]
    assert form["first_send_at"].value() in (None, "")
    assert "Save starts it at the first send time you choose." in page.content.decode()


def test_a_save_that_would_send_at_once_asks_first_with_the_count(user, client_for, parts):
    message, recipients = parts
    client = client_for(user)
    now = timezone.now() - timedelta(minutes=1)

    asked = client.post(reverse("mailing:mailing_create"), data(message, recipients, first=now))

    assert asked.status_code == 200 and asked.context["confirm_send"]
    assert "Save sends it to 5 recipients now." in asked.content.decode()
    assert not Mailing.objects.filter(owner=user).exists()
    # Confirmed for another number of recipients (the choice changed since): asked again.
    again = client.post(
        reverse("mailing:mailing_create"),
        data(message, recipients, first=now, confirm_send="4"),
    )
    assert again.status_code == 200 and again.context["confirm_send"]

    saved = client.post(
        reverse("mailing:mailing_create"),
        data(message, recipients, first=now, confirm_send="5"),
    )
    assert saved.status_code == 302
    assert Mailing.objects.get(owner=user).next_send_at is not None


def test_a_draft_sends_nothing_and_is_never_finished_by_the_scheduler(user, client_for, parts):
    message, recipients = parts
    past = timezone.now() - timedelta(minutes=1)

    response = client_for(user).post(
        reverse("mailing:mailing_create"),
        data(message, recipients, first=past, start="draft"),
        follow=True,
    )

    mailing = Mailing.objects.get(owner=user)
    assert (mailing.status, mailing.next_send_at) == (Mailing.Status.CREATED, None)
    assert [str(m) for m in response.context["messages"]] == [
        "Mailing saved as a draft: nothing is sent until you schedule it or press Send now."
    ]
    assert delivery.start_due_runs() == []
    delivery.finish_completed()
    assert Mailing.objects.get(pk=mailing.pk).status == Mailing.Status.CREATED
    assert not Run.objects.filter(mailing=mailing).exists()
    # Send now starts it.
    delivery.start_run(mailing=mailing)
    assert Run.objects.filter(mailing=mailing).count() == 1


def test_the_outcome_for_a_later_start_and_a_repeating_mailing(user, parts):
    _, recipients = parts
    later = timezone.now() + timedelta(days=2)
    count = selectors.audience_size(owner_id=user.pk, recipient_ids=[r.pk for r in recipients[:3]])
    text = selectors.save_outcome(
        count=count,
        start=True,
        first_send_at=later,
        periodicity="weekly",
        end_at=later + timedelta(days=30),
    )
    when = timezone.localtime(later).strftime("%Y-%m-%d %H:%M")
    assert text.startswith(f"Save starts it on {when}: it is sent to 3 recipients then.")
    assert "It repeats every week until" in text
    assert selectors.audience_size(owner_id=user.pk) == 5


def test_the_count_leaves_out_suppressed_addresses(user, parts):
    from mailing.models import Suppression

    Suppression.objects.create(owner=user, email="R1@example.org", reason="unsubscribed")
    assert selectors.audience_size(owner_id=user.pk) == 4


def test_send_now_and_stop_ask_in_the_dialog_with_the_count(user, client_for, make_mailing):
    mailing = make_mailing(user, recipients=3, first_send_at=timezone.now() + timedelta(days=1))
    page = client_for(user).get(reverse("mailing:mailing_detail", args=[mailing.pk])).content
    text = page.decode()
    assert f'data-confirm="Mailing #{mailing.pk} is sent to 3 recipients at once."' in text
    assert 'data-confirm="0 queued messages are cancelled (recorded as not sent)' in text
    assert 'id="confirm-modal"' in text and "<script>" not in text
    delivery.start_run(mailing=mailing)
    text = client_for(user).get(reverse("mailing:mailing_detail", args=[mailing.pk])).content
    assert 'data-confirm="3 queued messages are cancelled' in text.decode()


def test_deleting_a_message_in_use_says_so_on_the_confirmation_page(user, client_for, make_mailing):
    mailing = make_mailing(user, recipients=1)
    page = client_for(user).get(reverse("mailing:message_delete", args=[mailing.message_id]))
    text = page.content.decode()
    assert "This message is used by a mailing, so it cannot be deleted" in text
    assert reverse("mailing:mailing_detail", args=[mailing.pk]) in text
    assert 'type="submit">Delete' not in text
    unused = Message.objects.create(owner=user, subject="Unused", body="B")
    page = client_for(user).get(reverse("mailing:message_delete", args=[unused.pk]))
    assert "will be deleted for good" in page.content.decode()
