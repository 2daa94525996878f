"""The mailing form's audience picker: a page that does not grow with the address book, a
search that answers a page of matches, and a choice of 10,000 that is not refused."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from mailing import services
from mailing.models import Mailing, Membership, Message, Recipient

pytestmark = pytest.mark.django_db

FORMAT = "%Y-%m-%dT%H:%M"


def add_recipients(owner, n: int, *, start: int = 0) -> list[int]:
    Recipient.objects.bulk_create(
        Recipient(owner=owner, email=f"p{i}@example.org", full_name=f"Person {i}")
        for i in range(start, start + n)
    )
    return list(Recipient.objects.filter(owner=owner).values_list("pk", flat=True))


def form_data(message, **extra) -> dict:
    first = timezone.localtime() + timedelta(hours=1)
    return {
        "message": message.pk,
        "first_send_at": first.strftime(FORMAT),
        "end_at": (first + timedelta(days=7)).strftime(FORMAT),
        "periodicity": "once",
        **extra,
    }


def test_the_form_page_does_not_grow_with_the_number_of_recipients(user, client_for):
    Message.objects.create(owner=user, subject="S", body="B")
    client = client_for(user)
    add_recipients(user, 10)
    small = len(client.get(reverse("mailing:mailing_create")).content)

    add_recipients(user, 9_990, start=10)
    large = client.get(reverse("mailing:mailing_create"))

    assert Recipient.objects.filter(owner=user).count() == 10_000
    assert large.status_code == 200
    assert len(large.content) - small < 200  # ~720 KB with the old <select>
    assert b"p5000@example.org" not in large.content


@pytest.mark.parametrize("how", ["all", "list", "ids"])
def test_choosing_10000_recipients_is_not_too_many_fields(user, client_for, how):
    message = Message.objects.create(owner=user, subject="S", body="B")
    ids = add_recipients(user, 10_000)
    client = client_for(user)
    if how == "all":
        extra = {"all_recipients": "on"}
    elif how == "list":
        everyone = services.list_create(owner=user, name="Everyone")
        services.list_add_recipients(user=user, recipient_list=everyone, recipient_ids=ids)
        extra = {"lists": str(everyone.pk)}
    else:  # what the picker posts: one field, comma-separated
        extra = {"recipients": ",".join(map(str, ids))}

    response = client.post(reverse("mailing:mailing_create"), form_data(message, **extra))

    assert response.status_code == 302, response.content[:500]
    mailing = Mailing.objects.get()
    if how == "list":
        assert list(mailing.lists.values_list("name", flat=True)) == ["Everyone"]
    else:
        assert mailing.recipients.count() == 10_000
    # The form's own fields are far below Django's limit however many are chosen.
    assert len(form_data(message, **extra)) < settings.DATA_UPLOAD_MAX_NUMBER_FIELDS


def test_the_search_answers_at_most_20_of_the_users_own(user, other_user, client_for):
    add_recipients(user, 50)
    Recipient.objects.create(owner=other_user, email="p1-theirs@example.org", full_name="P1")
    services.list_create(owner=user, name="Person lovers")
    services.list_create(owner=other_user, name="Persons of theirs")
    client = client_for(user)
    url = reverse("mailing:audience_search")

    everyone = client.get(url, {"kind": "recipient", "q": "person"}).json()["results"]
    one = client.get(url, {"kind": "recipient", "q": "P1@EXAMPLE"}).json()["results"]
    lists = client.get(url, {"kind": "list", "q": "person"}).json()["results"]

    assert len(everyone) == 20
    assert [r["label"] for r in one] == ["Person 1 <p1@example.org>"]
    assert [(r["label"], r["detail"]) for r in lists] == [("Person lovers", "0 members")]
    assert client_for(other_user).get(url, {"q": "person lovers"}).json()["results"] == []


def test_the_search_needs_a_signed_in_user(client):
    response = client.get(reverse("mailing:audience_search"), {"q": "a"})
    assert response.status_code == 302


def test_the_form_says_what_saving_will_do(user, client_for):
    message = Message.objects.create(owner=user, subject="S", body="B")
    ids = add_recipients(user, 3)
    news = services.list_create(owner=user, name="News")
    services.list_add_recipients(user=user, recipient_list=news, recipient_ids=ids[:2])
    Membership.objects.filter(recipient_id=ids[1]).update(status=Membership.Status.PENDING)
    client = client_for(user)
    url = reverse("mailing:audience_summary")
    now = timezone.localtime().strftime(FORMAT)

    later = client.post(url, form_data(message, lists=str(news.pk), recipients=str(ids[2])))
    at_once = client.post(url, form_data(message, lists=str(news.pk), first_send_at=now))
    nobody = client.post(url, form_data(message))

    assert later.json()["count"] == 2
    assert later.json()["text"].startswith("Starts on ")
    assert later.json()["text"].endswith("; 2 recipients as of now.")
    assert json.loads(at_once.content) == {"count": 1, "text": "Sends to 1 recipient now."}
    assert nobody.json()["count"] == 0


def test_a_mailing_can_target_a_list_only_and_not_someone_elses(user, other_user, client_for):
    message = Message.objects.create(owner=user, subject="S", body="B")
    mine = services.list_create(owner=user, name="Mine")
    theirs = services.list_create(owner=other_user, name="Theirs")
    client = client_for(user)

    refused = client.post(reverse("mailing:mailing_create"), form_data(message, lists=theirs.pk))
    saved = client.post(reverse("mailing:mailing_create"), form_data(message, lists=mine.pk))

    assert refused.status_code == 200
    assert refused.context["form"].errors["lists"]
    assert saved.status_code == 302
    assert list(Mailing.objects.get().lists.all()) == [mine]
