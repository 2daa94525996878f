"""The home page's cached copy for anonymous visitors (home.page_cache): no query on a hit, yet
random posts per visit, exact totals and fresh content the moment anything changes."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from blog.tests.factories import make_post, make_posts
from conftest import PASSWORD
from home.models import HomePage
from mailing import services
from mailing.forms import RecipientForm

from .test_home_page import card_titles, total


def visit(client: Client) -> tuple[object, int]:
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


@pytest.mark.django_db
def test_totals_are_exact_the_moment_campaign_data_changes(client, user):
    make_posts(1)
    visit(client)
    response, queries = visit(client)
    assert queries == 0
    before = total(response, "recipients")

    form = RecipientForm({"email": "new@example.org", "full_name": "New"}, owner=user)
    assert form.is_valid()
    services.save_owned(user=user, form=form)

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
