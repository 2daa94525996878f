"""Cached dashboard lists and totals are right the moment data changes (Redis in CI)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mailing import cache
from mailing.models import Mailing, Recipient

pytestmark = pytest.mark.django_db


def query_count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_a_new_recipient_appears_at_once_and_other_users_caches_are_untouched(
    user, other_user, client_for
):
    Recipient.objects.create(owner=other_user, email="bob-friend@example.org", full_name="Friend")
    alice, bob = client_for(user), client_for(other_user)
    url = reverse("mailing:recipient_list")
    assert "new-friend@example.org" not in alice.get(url).content.decode()
    bob_first = query_count(bob, url)
    bob_cached = query_count(bob, url)
    assert bob_cached < bob_first  # Bob's list now comes from the cache
    alice_version, bob_version = cache.version(user.pk), cache.version(other_user.pk)

    created = alice.post(
        reverse("mailing:recipient_create"),
        {"email": "new-friend@example.org", "full_name": "New"},
    )

    assert created.status_code == 302
    assert "new-friend@example.org" in alice.get(url).content.decode()
    assert cache.version(user.pk) != alice_version  # her cached pages are no longer read
    assert cache.version(other_user.pk) == bob_version
    assert query_count(bob, url) == bob_cached  # still served from his cache
    assert "bob-friend@example.org" in bob.get(url).content.decode()


def test_the_managers_view_of_everything_is_refreshed_by_any_users_write(user, manager, client_for):
    url = reverse("mailing:recipient_list")
    boss = client_for(manager)
    boss.get(url)

    client_for(user).post(
        reverse("mailing:recipient_create"), {"email": "late@example.org", "full_name": "Late"}
    )

    assert "late@example.org" in boss.get(url).content.decode()


def test_site_totals_on_the_home_page_follow_every_change(
    user, other_user, client_for, make_mailing
):
    def totals() -> tuple[str, str, str]:
        html = client_for(user).get("/").content.decode()
        return tuple(
            html.split(f'data-testid="{name}">', 1)[1].split("<", 1)[0]
            for name in ("total-mailings", "total-active", "total-recipients")
        )

    assert totals() == ("0", "0", "0")
    mailing = make_mailing(user, recipients=3)
    cache.bump(owner_id=user.pk)  # make_mailing writes directly, not through a service
    assert totals() == ("1", "0", "3")

    client_for(user).post(reverse("mailing:mailing_send", args=[mailing.pk]))
    assert totals() == ("1", "1", "3")

    shared = mailing.recipients.first().email.upper()
    client_for(other_user).post(
        reverse("mailing:recipient_create"), {"email": shared, "full_name": "Shared"}
    )
    assert Recipient.objects.count() == 4
    assert totals() == ("1", "1", "3")  # the same address, another owner: not a new one


def test_a_status_change_by_the_scheduler_shows_in_the_cached_mailing_list(
    user, client_for, make_mailing, smtp_sink, settings
):
    settings.MAILING_SENDER_CONNECTIONS = 1
    from mailing import delivery

    mailing = make_mailing(user, recipients=1)
    client = client_for(user)
    url = reverse("mailing:mailing_list")
    assert "Created" in client.get(url).content.decode()

    delivery.start_due_runs()
    delivery.deliver()
    delivery.finish_completed()

    html = client.get(url).content.decode()
    assert "Finished" in html and "Created</span>" not in html
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.FINISHED


@pytest.mark.parametrize(
    "name", ["dashboard", "recipient_list", "message_list", "mailing_list", "attempt_list"]
)
def test_dashboard_pages_are_private_to_the_browser(user, client_for, name):
    response = client_for(user).get(reverse(f"mailing:{name}"))
    cache_control = response["Cache-Control"]
    assert "private" in cache_control and "no-cache" in cache_control
