"""What users expect of any campaign tool: a mailing has a name; a mailing or a message can be
duplicated (the copy never sends by itself); a recipient's page shows their attempt history."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as global_apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailing import delivery, services
from mailing.models import Attempt, Mailing, Message, Recipient, Run

pytestmark = pytest.mark.django_db


# --- A mailing's name ---------------------------------------------------------------------------


def test_a_new_mailing_without_a_name_is_named_after_its_message(user):
    message = services.message_create(owner=user, subject="Spring news", body="Hi")
    recipient = services.recipient_create(owner=user, email="a@example.org", full_name="A")
    now = timezone.now()
    mailing = services.mailing_create(
        owner=user,
        message=message,
        name="  ",
        recipients=[recipient],
        first_send_at=now + timedelta(hours=1),
        end_at=now + timedelta(days=1),
    )
    assert mailing.name == "Spring news"
    assert str(mailing) == "Spring news"

    services.mailing_update(user=user, mailing=mailing, name="April letter")
    mailing.refresh_from_db()
    assert str(mailing) == "April letter"


def test_a_name_with_a_line_break_is_refused_next_to_the_field(user, make_mailing):
    mailing = make_mailing(user)
    with pytest.raises(Exception) as raised:
        services.mailing_update(user=user, mailing=mailing, name="one\ntwo")
    assert "name" in raised.value.message_dict  # type: ignore[attr-defined]


def test_a_mailing_stored_without_a_name_shows_as_its_number(user, make_mailing):
    mailing = make_mailing(user)
    assert str(mailing) == f"Mailing #{mailing.pk}"


def test_the_name_is_shown_in_the_list_the_page_and_the_report(
    user, client_for, make_mailing, record_attempt
):
    mailing = make_mailing(user, subject="Subject line")
    Mailing.objects.filter(pk=mailing.pk).update(name="Quarterly <b>report</b>")
    record_attempt(mailing)
    client = client_for(user)
    escaped = "Quarterly &lt;b&gt;report&lt;/b&gt;"
    for url in (
        reverse("mailing:mailing_list"),
        reverse("mailing:mailing_detail", args=[mailing.pk]),
        reverse("mailing:attempt_list"),
    ):
        html = client.get(url).content.decode()
        assert escaped in html, url
        assert "Quarterly <b>" not in html


def test_the_data_migration_names_old_mailings_after_their_subject(user, make_mailing):
    mailing = make_mailing(user, subject="Old subject " + "x" * 240)
    migration = importlib.import_module("mailing.migrations.0006_people_mailing_name")
    migration.name_after_subject(global_apps, None)
    mailing.refresh_from_db()
    assert mailing.name == ("Old subject " + "x" * 240)[:200]


def test_the_form_saves_the_name(user, client_for, make_mailing):
    mailing = make_mailing(user)
    recipient = Recipient.objects.filter(owner=user).first()
    start = timezone.localtime() + timedelta(days=1)
    response = client_for(user).post(
        reverse("mailing:mailing_update", args=[mailing.pk]),
        {
            "name": "Renamed",
            "message": mailing.message_id,
            "recipients": [recipient.pk],
            "first_send_at": f"{start:%Y-%m-%dT%H:%M}",
            "end_at": f"{start + timedelta(days=3):%Y-%m-%dT%H:%M}",
            "periodicity": "once",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    mailing.refresh_from_db()
    assert mailing.name == "Renamed"


# --- Duplicates ---------------------------------------------------------------------------------


def test_a_duplicated_mailing_has_the_same_plan_but_never_sends_by_itself(
    user, client_for, make_mailing
):
    mailing = make_mailing(user, recipients=3, periodicity=Mailing.Periodicity.DAILY)
    Mailing.objects.filter(pk=mailing.pk).update(name="Daily digest", reply_to="desk@example.org")
    mailing.refresh_from_db()

    client = client_for(user)
    response = client.post(reverse("mailing:mailing_duplicate", args=[mailing.pk]))

    copy = Mailing.objects.exclude(pk=mailing.pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("mailing:mailing_detail", args=[copy.pk])
    assert copy.name == "Daily digest (copy)"
    assert copy.owner_id == user.pk and copy.message_id == mailing.message_id
    assert copy.periodicity == mailing.periodicity and copy.reply_to == "desk@example.org"
    assert (copy.first_send_at, copy.end_at) == (mailing.first_send_at, mailing.end_at)
    assert set(copy.recipients.values_list("pk", flat=True)) == set(
        mailing.recipients.values_list("pk", flat=True)
    )
    assert copy.status == Mailing.Status.CREATED and copy.next_send_at is None
    page = client.get(response["Location"]).content.decode()
    assert "The copy sends nothing until you schedule it or send it now." in page

    # The original's first send is past: the scheduler starts it, and not the copy.
    started = delivery.start_due_runs(now=timezone.now() + timedelta(minutes=5))
    assert [run.mailing_id for run in started] == [mailing.pk]
    assert not Run.objects.filter(mailing=copy).exists()


def test_a_mailing_a_manager_disabled_is_not_copied(user, manager, client_for, make_mailing):
    mailing = make_mailing(user)
    services.mailing_disable(manager=manager, mailing=mailing)
    client = client_for(user)
    response = client.post(reverse("mailing:mailing_duplicate", args=[mailing.pk]), follow=True)
    assert "A mailing disabled by a manager cannot be copied." in response.content.decode()
    assert Mailing.objects.count() == 1


def test_a_duplicated_message_is_a_new_message_marked_as_a_copy(user, client_for):
    message = Message.objects.create(owner=user, subject="S" * 255, body="Body text")
    response = client_for(user).post(reverse("mailing:message_duplicate", args=[message.pk]))
    copy = Message.objects.exclude(pk=message.pk).get()
    assert response["Location"] == reverse("mailing:message_detail", args=[copy.pk])
    assert copy.body == "Body text" and copy.owner_id == user.pk
    assert copy.subject.endswith(" (copy)") and len(copy.subject) <= 255


def test_duplicating_is_a_post_for_the_owner_only(
    user, other_user, manager, client_for, make_mailing
):
    mailing = make_mailing(user)
    url = reverse("mailing:mailing_duplicate", args=[mailing.pk])
    message_url = reverse("mailing:message_duplicate", args=[mailing.message_id])
    assert client_for(user).get(url).status_code == 405
    assert client_for(other_user).post(url).status_code == 404
    assert client_for(other_user).post(message_url).status_code == 404
    assert client_for(manager).post(url).status_code == 403
    assert client_for(manager).post(message_url).status_code == 403
    assert Mailing.objects.count() == 1 and Message.objects.count() == 1


# --- A recipient's page -------------------------------------------------------------------------


def test_a_recipients_page_lists_their_attempts_across_mailings(
    user, other_user, client_for, make_mailing, record_attempt
):
    first = make_mailing(user, recipients=1, subject="First")
    recipient = first.recipients.get()
    second = make_mailing(user, recipients=[recipient], subject="Second")
    now = timezone.now()
    record_attempt(first, recipient=recipient, email=recipient.email, at=now - timedelta(hours=2))
    record_attempt(
        second,
        recipient=recipient,
        email=recipient.email,
        status=Attempt.Status.FAILURE,
        server_response="550 no such user",
        at=now - timedelta(hours=1),
    )
    record_attempt(first, email="someone-else@example.org")

    list_html = client_for(user).get(reverse("mailing:recipient_list")).content.decode()
    url = reverse("mailing:recipient_detail", args=[recipient.pk])
    assert url in list_html
    html = client_for(user).get(url).content.decode()

    assert "550 no such user" in html
    assert html.index(f"Mailing #{second.pk}") < html.index(f"Mailing #{first.pk}")
    assert "someone-else@example.org" not in html
    assert client_for(other_user).get(url).status_code == 404


def test_a_recipient_without_attempts_gets_an_empty_state(user, client_for):
    recipient = Recipient.objects.create(owner=user, email="new@example.org", full_name="N")
    html = client_for(user).get(reverse("mailing:recipient_detail", args=[recipient.pk]))
    assert 'data-testid="empty-state"' in html.content.decode()


def test_a_recipients_page_runs_as_many_queries_for_50_attempts_as_for_1(
    user, client_for, make_mailing, record_attempt
):
    client = client_for(user)
    recipient = Recipient.objects.create(owner=user, email="many@example.org", full_name="M")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("mailing:recipient_detail", args=[recipient.pk]))
        assert response.status_code == 200
        return len(captured)

    record_attempt(make_mailing(user, recipients=[recipient]), recipient=recipient)
    one = queries()
    for _ in range(49):
        record_attempt(make_mailing(user, recipients=[recipient]), recipient=recipient)
    html = client.get(reverse("mailing:recipient_detail", args=[recipient.pk])).content.decode()
    assert "1\u201325 of 50" in html
    assert queries() == one
