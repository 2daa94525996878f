"""The pages of suppressed addresses: the recipient list says who is suppressed, why and since
when; the list of suppressions; lifting a bounce (confirmed), never an unsubscribe."""

import pytest
from bs4 import BeautifulSoup
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mailing import cache
from mailing.models import Recipient, Suppression

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return " ".join(BeautifulSoup(response.content, "html.parser").get_text().split())


def test_the_recipient_list_shows_who_is_suppressed_why_and_since_when(user, client_for):
    Recipient.objects.create(owner=user, email="Gone@Example.org", full_name="Gone")
    Recipient.objects.create(owner=user, email="left@example.org", full_name="Left")
    Recipient.objects.create(owner=user, email="here@example.org", full_name="Here")
    Suppression.objects.create(owner=user, email="gone@example.org", reason="bounced")
    Suppression.objects.create(owner=user, email="left@example.org", reason="unsubscribed")

    page = client_for(user).get(reverse("mailing:recipient_list"))

    badges = BeautifulSoup(page.content, "html.parser").select("[data-testid=suppressed]")
    assert sorted(" ".join(b.get_text().split())[:15] for b in badges) == [
        "Bounced since 2",
        "Unsubscribed si",
    ]
    assert "Suppressed addresses" in text(page)


def test_the_recipient_list_queries_do_not_grow_with_suppressed_rows(
    user, client_for, django_capture_on_commit_callbacks
):
    client = client_for(user)

    def queries() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            cache.bump(owner_id=user.pk)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("mailing:recipient_list")).status_code == 200
        return len(captured)

    def add(n: int) -> None:
        start = Recipient.objects.count()
        for i in range(start, start + n):
            Recipient.objects.create(owner=user, email=f"p{i}@example.org", full_name="P")
            Suppression.objects.create(owner=user, email=f"p{i}@example.org", reason="bounced")

    add(1)
    one = queries()
    add(19)
    assert queries() == one


def test_a_bounce_is_lifted_after_confirming(user, client_for):
    suppression = Suppression.objects.create(
        owner=user, email="gone@example.org", reason="bounced", detail="550 5.1.1 unknown"
    )
    client = client_for(user)
    listing = client.get(reverse("mailing:suppression_list"))
    url = reverse("mailing:suppression_lift", args=[suppression.pk])
    assert url in listing.content.decode()

    confirm = client.get(url)
    assert confirm.status_code == 200 and "550 5.1.1 unknown" in text(confirm)
    assert Suppression.objects.exists()  # a GET changes nothing

    done = client.post(url, follow=True)
    assert "gone@example.org will receive your mailings again." in text(done)
    assert not Suppression.objects.exists()


def test_an_unsubscribe_cannot_be_lifted(user, client_for):
    suppression = Suppression.objects.create(
        owner=user, email="left@example.org", reason="unsubscribed"
    )
    client = client_for(user)
    url = reverse("mailing:suppression_lift", args=[suppression.pk])

    assert url not in client.get(reverse("mailing:suppression_list")).content.decode()
    assert "only they can decide" in text(client.get(url))
    refused = client.post(url, follow=True)
    assert "only they can decide" in text(refused)
    assert Suppression.objects.exists()


def test_another_users_suppression_is_not_found(user, other_user, client_for):
    suppression = Suppression.objects.create(
        owner=other_user, email="x@example.org", reason="bounced"
    )
    client = client_for(user)
    url = reverse("mailing:suppression_lift", args=[suppression.pk])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert "x@example.org" not in client.get(reverse("mailing:suppression_list")).content.decode()


def test_the_empty_state(user, client_for):
    page = client_for(user).get(reverse("mailing:suppression_list"))
    assert "No suppressed addresses" in text(page)
