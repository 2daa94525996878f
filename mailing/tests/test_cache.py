"""Cached dashboard lists and totals are right the moment a change commits (Redis in CI).

Tests that write and then read a cached page are transactional: a cache version is renewed
when the write commits, and only a real commit runs that."""

import pickle
import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mailing import cache, selectors, services
from mailing.models import Mailing, Recipient
from users.models import User

pytestmark = pytest.mark.django_db
committed = pytest.mark.django_db(transaction=True)


def query_count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@committed
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


@committed
def test_the_managers_view_of_everything_is_refreshed_by_any_users_write(user, manager, client_for):
    url = reverse("mailing:recipient_list")
    boss = client_for(manager)
    boss.get(url)

    client_for(user).post(
        reverse("mailing:recipient_create"), {"email": "late@example.org", "full_name": "Late"}
    )

    assert "late@example.org" in boss.get(url).content.decode()


@committed
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


@committed
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


# --- Invalidation waits for the commit ------------------------------------------------------


def _add_recipient(user: User, email: str) -> None:
    services.recipient_create(owner=user, email=email, full_name="New")


def _emails_seen_by_another_request(user: User) -> list[str]:
    """What a concurrent request (its own thread and database connection) lists, and caches."""
    seen: list[str] = []

    def read() -> None:
        try:
            seen.extend(r.email for r in selectors.recipient_page(user=user).object_list)
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    reader.join()
    return seen


@committed
def test_a_write_renews_the_cache_versions_when_it_commits_not_before(user):
    before = (cache.version(user.pk), cache.version(cache.SITE))

    with transaction.atomic():
        _add_recipient(user, "new@example.org")
        assert (cache.version(user.pk), cache.version(cache.SITE)) == before

    after = (cache.version(user.pk), cache.version(cache.SITE))
    assert after[0] != before[0] and after[1] != before[1]


@committed
def test_a_page_read_while_a_write_commits_is_not_kept_as_the_new_data(user):
    Recipient.objects.create(owner=user, email="old@example.org", full_name="Old")

    with transaction.atomic():
        _add_recipient(user, "new@example.org")
        # Another request reads (and caches) the list before the write is committed.
        assert _emails_seen_by_another_request(user) == ["old@example.org"]

    emails = [r.email for r in selectors.recipient_page(user=user).object_list]
    assert emails == ["new@example.org", "old@example.org"]


@committed
def test_a_write_that_rolls_back_leaves_the_cache_alone(user):
    before = cache.version(user.pk)

    with pytest.raises(RuntimeError), transaction.atomic():
        _add_recipient(user, "new@example.org")
        raise RuntimeError("something later in the request failed")

    assert cache.version(user.pk) == before
    assert not Recipient.objects.exists()


# --- What a cache entry holds, and under which key ---------------------------------------------


@pytest.mark.parametrize("viewer", ["user", "manager"])
def test_cached_rows_hold_no_password_hash_or_other_account_data(
    request, user, make_mailing, viewer
):
    User.objects.filter(pk=user.pk).update(phone="+33612345678", first_name="Alice-secret")
    user.refresh_from_db()
    make_mailing(user, recipients=2)
    reader = request.getfixturevalue(viewer)
    pages = {
        "recipients": lambda: selectors.recipient_page(user=reader),
        "messages": lambda: selectors.message_page(user=reader),
        "mailings": lambda: selectors.mailing_page(user=reader),
    }

    for name, page in pages.items():
        page()  # computes and caches the page
        with CaptureQueriesContext(connection) as captured:
            rows = list(page().object_list)  # the rows as the cache holds them
        assert len(captured) == 0, name
        assert rows and {row.owner.email for row in rows} == {user.email}, name
        payload = pickle.dumps(rows)
        for secret in (user.password, "+33612345678", "Alice-secret"):
            assert secret.encode() not in payload, (name, secret)


def test_page_numbers_that_mean_the_same_page_share_one_cache_entry(user, client_for):
    Recipient.objects.bulk_create(
        Recipient(owner=user, email=f"r{i:02}@example.org", full_name="R") for i in range(30)
    )
    client = client_for(user)
    url = reverse("mailing:recipient_list")
    client.get(url, {"page": "1"})
    client.get(url, {"page": "2"})
    served_from_cache = query_count(client, f"{url}?page=1")

    for same_as_first in ("01", "a", "", "-3", "1.0"):
        assert query_count(client, f"{url}?page={same_as_first}") == served_from_cache
    for same_as_last in ("002", "3", "999999"):
        assert query_count(client, f"{url}?page={same_as_last}") == served_from_cache
    last = client.get(url, {"page": "999999"}).context["page_obj"]
    assert last.number == 2 and last.object_list[0].email == "r25@example.org"


# --- Cache-Control -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["dashboard", "recipient_list", "message_list", "mailing_list", "attempt_list"]
)
def test_dashboard_pages_are_private_to_the_browser(user, client_for, name):
    response = client_for(user).get(reverse(f"mailing:{name}"))
    cache_control = response["Cache-Control"]
    assert "private" in cache_control and "no-cache" in cache_control


def test_dashboard_error_answers_are_private_too(user, other_user, make_mailing, client_for):
    alices = make_mailing(user, recipients=1)
    bob = client_for(other_user)
    answers = {
        "404 (someone else's mailing)": bob.get(
            reverse("mailing:mailing_detail", args=[alices.pk])
        ),
        "404 (no such page)": bob.get("/dashboard/no-such-page/"),
        "403 (a manager's page)": bob.get(reverse("users:user_list")),
        "403 (a manager's action)": client_for(user).post(
            reverse("mailing:mailing_disable", args=[alices.pk])
        ),
    }

    assert [r.status_code for r in answers.values()] == [404, 404, 403, 403]
    for what, response in answers.items():
        cache_control = response.get("Cache-Control", "")
        assert "private" in cache_control and "no-cache" in cache_control, what
