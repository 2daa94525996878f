"""The home page's cached copy for anonymous visitors (home.page_cache): no query on a hit, yet
random posts per visit, exact totals and fresh content the moment anything changes."""

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from blog.tests.factories import make_post, make_posts
from conftest import PASSWORD
from home.models import HomePage
from mailing import services

from .test_home_page import card_titles, total


def visit(client: Client) -> tuple[Any, int]:
    """The home page and the number of queries it took."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    assert response.status_code == 200
    return response, len(queries.captured_queries)


@pytest.mark.django_db
def test_a_repeat_anonymous_visit_takes_no_query_and_shows_the_same_page(client):
    make_posts(2)
    first, first_queries = visit(client)

    again, queries = visit(Client())

    assert first_queries > 0
    assert queries == 0
    assert sorted(card_titles(again)) == ["Post 1", "Post 2"]
    assert total(again, "mailings") == total(first, "mailings")
    # Shared caches must keep signed-in visitors apart; the usual headers are all there.
    assert "Cookie" in again["Vary"]
    assert again["X-Frame-Options"] == first["X-Frame-Options"]
    assert again["ETag"]


@pytest.mark.django_db
def test_the_cached_copy_still_draws_posts_at_random_for_each_visit(client):
    make_posts(6)

    hits = []
    for _ in range(80):
        response, queries = visit(client)
        if queries == 0:
            hits.append(frozenset(card_titles(response)))

    assert len(hits) > 20  # after a few visits every card is cached
    assert all(len(titles) == 3 for titles in hits)
    assert len(set(hits)) > 1
    assert len(frozenset().union(*hits)) > 3


@pytest.mark.django_db(transaction=True)  # caches are renewed when writes commit
def test_totals_are_exact_the_moment_campaign_data_changes(client, user):
    make_posts(1)
    visit(client)
    response, queries = visit(client)
    assert queries == 0
    before = total(response, "recipients")

    services.recipient_create(owner=user, email="new@example.org", full_name="New")

    assert total(visit(client)[0], "recipients") == before + 1


@pytest.mark.django_db
def test_an_edited_home_page_and_a_new_post_show_at_once(client):
    make_post("Old news")
    visit(client)
    visit(client)

    home = HomePage.objects.get()
    home.intro = "<p>Brand new introduction.</p>"
    home.save_revision().publish()
    make_post("Fresh news")

    html = visit(client)[0].content.decode()
    assert "Brand new introduction." in html
    assert sorted(card_titles(visit(client)[0])) == ["Fresh news", "Old news"]


@pytest.mark.django_db
def test_signed_in_visitors_and_flash_messages_never_get_the_shared_copy(client, user):
    make_posts(1)
    visit(Client())
    visit(Client())  # cached now

    assert client.login(email=user.email, password=PASSWORD)
    signed_in = client.get("/").content.decode()
    assert user.email in signed_in
    assert "Open your dashboard" in signed_in

    response = client.post("/accounts/logout/", follow=True)
    html = response.content.decode()
    assert response.request["PATH_INFO"] == "/"
    assert re.search(r"You have signed out", html)
    assert user.email not in html


# --- Conditional GET ---------------------------------------------------------------------------


def revalidate(etag: str, client: Client | None = None):
    """A browser that has the page asks whether it changed."""
    return (client or Client()).get("/", headers={"if-none-match": etag})


@pytest.mark.django_db
def test_a_revalidating_browser_gets_304_and_keeps_its_cards():
    make_posts(10)  # the cards differ from one visit to the next
    etag = Client().get("/")["ETag"]  # a miss: rendered, and kept

    # Rendered again (a card drawn that is not cached yet) or answered from the cache: the
    # same page for a browser, whatever the cards.
    visits = [visit(Client()) for _ in range(40)]
    assert {response["ETag"] for response, _queries in visits} == {etag}
    assert {queries == 0 for _response, queries in visits} == {True, False}
    for _ in range(5):
        again = revalidate(etag)
        assert again.status_code == 304
        assert again["ETag"] == etag
        assert again.content == b""


@pytest.mark.django_db(transaction=True)  # caches are renewed when writes commit
def test_the_etag_changes_as_soon_as_the_page_would(user):
    make_posts(10)
    etag = Client().get("/")["ETag"]

    make_post("Fresh news")
    changed = revalidate(etag)

    assert changed.status_code == 200
    assert changed["ETag"] != etag
    etag = changed["ETag"]
    assert revalidate(etag).status_code == 304

    # the site totals change
    services.recipient_create(owner=user, email="new@example.org", full_name="New")

    assert revalidate(etag).status_code == 200


@pytest.mark.django_db
def test_a_signed_in_visitor_never_gets_a_304_for_the_anonymous_page(user, client_for):
    make_posts(10)
    etag = Client().get("/")["ETag"]

    response = revalidate(etag, client_for(user))

    assert response.status_code == 200
    assert "Open your dashboard" in response.content.decode()


@pytest.mark.django_db
def test_with_the_site_cache_switched_off_a_changed_page_is_never_answered_304(settings):
    """CACHE_BACKEND=dummy (or Redis down): no version can be kept, so none can say the page
    changed; the page must not claim to be the same."""
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    make_posts(10)
    etag = Client().get("/")["ETag"]

    make_post("Fresh news")

    assert revalidate(etag).status_code == 200
