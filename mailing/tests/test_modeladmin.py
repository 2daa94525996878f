"""Managers browse campaign data in the Wagtail admin, read-only; nobody else sees it there."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mailing.models import Attempt, Mailing, Message, Recipient

pytestmark = pytest.mark.django_db

MODELS = [Mailing, Message, Recipient, Attempt]


def admin_url(model, view: str, obj=None) -> str:
    name = f"{model._meta.app_label}_{model._meta.model_name}_modeladmin_{view}"
    return reverse(name, args=[obj.pk] if obj is not None else [])


@pytest.fixture
def data(user, make_mailing, record_attempt) -> dict:
    mailing = make_mailing(user, recipients=2, subject="Quarterly report")
    attempt = record_attempt(
        mailing, email="seen@example.org", server_response="250 2.0.0 Ok: queued"
    )
    return {
        Mailing: mailing,
        Message: mailing.message,
        Recipient: mailing.recipients.first(),
        Attempt: attempt,
    }


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_a_manager_lists_and_inspects_every_campaign_model(manager, client_for, data, model):
    client = client_for(manager)

    listing = client.get(admin_url(model, "index"))
    inspect = client.get(admin_url(model, "inspect", data[model]))

    assert listing.status_code == 200 and inspect.status_code == 200
    # No yes/no icons: they come from django.contrib.admin, which is not installed (404).
    assert "admin/img/icon-" not in listing.content.decode() + inspect.content.decode()
    assert admin_url(model, "create") not in listing.content.decode()
    assert admin_url(model, "edit", data[model]) not in inspect.content.decode()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_nobody_adds_changes_or_deletes_campaign_data_in_the_admin(
    manager, client_for, data, model
):
    client = client_for(manager)
    obj = data[model]
    count = model.objects.count()

    for url in (
        admin_url(model, "create"),
        admin_url(model, "edit", obj),
        admin_url(model, "delete", obj),
    ):
        assert client.get(url).status_code in (302, 403), url
        assert client.post(url, {}).status_code in (302, 403), url

    assert model.objects.count() == count


def test_the_admin_search_and_filters_work(
    manager, other_user, client_for, data, make_mailing, record_attempt
):
    make_mailing(other_user, recipients=1, subject="Weekly digest")
    record_attempt(data[Mailing], email="bounced@example.org", status=Attempt.Status.FAILURE)
    client = client_for(manager)

    found = client.get(admin_url(Mailing, "index"), {"q": "Quarterly"}).content.decode()
    failures = client.get(
        admin_url(Attempt, "index"), {"status__exact": "failure"}
    ).content.decode()
    by_owner = client.get(admin_url(Recipient, "index"), {"q": "bob@"}).content.decode()

    assert "Quarterly report" in found and "Weekly digest" not in found
    assert "bounced@example.org" in failures and "seen@example.org" not in failures
    assert "bob@example.com" in by_owner and "alice@example.com" not in by_owner


def test_the_inspect_view_shows_user_text_escaped(manager, client_for, make_mailing):
    mailing = make_mailing(manager, recipients=1, body="<script>alert('x')</script>")

    html = client_for(manager).get(admin_url(Message, "inspect", mailing.message)).content.decode()

    assert "<script>alert(" not in html and "&lt;script&gt;alert(" in html


def test_the_campaign_menu_is_for_managers_only(make_user, client_for, manager, data):
    blogger = make_user("blogger@example.com")
    from django.contrib.auth.models import Group

    blogger.groups.add(Group.objects.get(name="Bloggers"))

    assert client_for(blogger).get(admin_url(Mailing, "index")).status_code in (302, 403)
    assert admin_url(Mailing, "index") in client_for(manager).get("/admin/").content.decode()


def test_the_attempt_listing_does_not_query_per_row(manager, client_for, data, record_attempt):
    client = client_for(manager)
    client.get(admin_url(Attempt, "index"))  # warm per-user admin state

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get(admin_url(Attempt, "index"))
        return len(captured)

    few = queries()
    for i in range(30):
        record_attempt(data[Mailing], email=f"more{i}@example.org")
    assert queries() == few
