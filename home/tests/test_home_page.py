"""The front page: the site's campaign totals and three random blog posts."""

import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from wagtail.models import PageViewRestriction

from blog.models import BlogPage
from blog.selectors import live_post_ids, random_posts
from blog.tests.factories import blog_index, make_post, make_posts
from mailing.models import Mailing, Recipient
from users.groups import BLOGGERS


def card_titles(response) -> list[str]:
    html = response.content.decode()
    cards = html.split('data-testid="blog-card"')[1:]
    return [re.search(r'class="stretched-link[^"]*"[^>]*>([^<]+)</a>', c)[1] for c in cards]


def total(response, name: str) -> int:
    return int(re.search(rf'data-testid="total-{name}">(\d+)<', response.content.decode())[1])


@pytest.mark.django_db
def test_the_home_page_shows_the_site_totals(client, user, other_user, make_mailing):
    launched = make_mailing(user, recipients=3)
    make_mailing(user, recipients=list(Recipient.objects.filter(owner=user)))  # same three
    disabled = make_mailing(other_user, recipients=2)
    make_mailing(other_user, recipients=1)
    # Another owner's address that only differs in case is still one recipient.
    Recipient.objects.create(
        owner=other_user, email=launched.recipients.first().email.upper(), full_name="Dup"
    )
    Mailing.objects.filter(pk=launched.pk).update(status=Mailing.Status.LAUNCHED)
    Mailing.objects.filter(pk=disabled.pk).update(status=Mailing.Status.LAUNCHED, is_disabled=True)

    response = client.get("/")

    assert response.status_code == 200
    assert total(response, "mailings") == 4
    assert total(response, "active") == 1  # launched and not disabled by a manager
    assert total(response, "recipients") == 3 + 2 + 1


@pytest.mark.django_db
def test_ten_live_posts_show_exactly_three_distinct_ones(client):
    posts = make_posts(10)

    titles = card_titles(client.get("/"))

    assert len(titles) == 3
    assert len(set(titles)) == 3
    assert set(titles) <= {p.title for p in posts}


@pytest.mark.django_db
@pytest.mark.parametrize("count", [0, 1, 2])
def test_fewer_than_three_posts_are_all_shown(client, count):
    posts = make_posts(count)

    response = client.get("/")

    assert sorted(card_titles(response)) == sorted(p.title for p in posts)


@pytest.mark.django_db
def test_with_no_posts_visitors_are_told_what_comes_next_and_pointed_to_the_blog(client):
    index = blog_index()  # the blog exists, nothing is published in it yet

    html = client.get("/").content.decode()

    empty = re.search(r'data-testid="empty-state">.*?</div>', html, re.S)[0]
    assert "No posts yet" in empty
    assert "Posts appear here as soon as our editors publish them." in empty
    assert f'href="{index.url}">Visit the blog</a>' in empty


@pytest.mark.django_db
def test_with_no_posts_an_editor_is_sent_to_the_editor(make_user, client_for):
    editor = make_user("editor@example.com")
    editor.groups.add(Group.objects.get(name=BLOGGERS))

    html = client_for(editor).get("/").content.decode()

    empty = re.search(r'data-testid="empty-state">.*?</div>', html, re.S)[0]
    assert f'href="{reverse("wagtailadmin_explore_root")}">Open the editor</a>' in empty


@pytest.mark.django_db
def test_drafts_never_appear_on_the_home_page(client):
    make_posts(2)
    make_post("Draft one", live=False)
    make_post("Draft two", live=False)

    seen = set()
    for _ in range(10):
        seen.update(card_titles(client.get("/")))

    assert seen == {"Post 1", "Post 2"}


@pytest.mark.django_db
def test_requests_show_different_posts(client):
    make_posts(10)

    selections = [frozenset(card_titles(client.get("/"))) for _ in range(30)]

    # The chance that 30 independent draws of 3 out of 10 all pick the same three is
    # (1/120)**29: a failure here means the pick is not random per request.
    assert len(set(selections)) > 1
    assert len(frozenset().union(*selections)) > 3


@pytest.mark.django_db
def test_publishing_and_unpublishing_shows_at_once(client):
    first = make_post("First")
    assert card_titles(client.get("/")) == ["First"]  # the live ids are cached now

    make_post("Second")
    assert sorted(card_titles(client.get("/"))) == ["First", "Second"]

    first.unpublish()
    assert card_titles(client.get("/")) == ["Second"]


@pytest.mark.django_db
def test_random_posts_are_never_picked_with_order_by_random(client):
    make_posts(10)

    for attempt in range(2):  # the first request fills the cache, the second reads it
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/").status_code == 200
        sql = [q["sql"].upper() for q in queries.captured_queries]
        # The second may come from the page's cached copy without any query (home.page_cache).
        assert sql or attempt, "no queries captured"
        assert not any("RANDOM()" in s or "RAND()" in s for s in sql)


@pytest.mark.django_db
def test_a_post_made_private_leaves_the_home_page_at_once_and_three_cards_stay(client):
    secret, *others = make_posts(4)
    client.get("/")  # the live ids are cached now

    PageViewRestriction.objects.create(page=secret, restriction_type=PageViewRestriction.LOGIN)

    assert sorted(live_post_ids()) == sorted(post.pk for post in others)
    for _ in range(12):
        titles = card_titles(client.get("/"))
        assert len(titles) == 3
        assert secret.title not in titles


@pytest.mark.django_db
def test_a_post_made_public_again_comes_back_at_once(client):
    secret = make_posts(4)[0]
    restriction = PageViewRestriction.objects.create(
        page=secret, restriction_type=PageViewRestriction.LOGIN
    )
    client.get("/")  # the live ids, without the private post, are cached now

    restriction.delete()

    assert secret.pk in live_post_ids()
    # 30 draws of 3 cards out of 4 all missing one post: (1/4)**30.
    assert any(secret.title in card_titles(client.get("/")) for _ in range(30))


@pytest.mark.django_db
def test_cards_are_topped_up_when_cached_ids_have_dropped_out(django_assert_max_num_queries):
    posts = make_posts(5)
    live_post_ids()  # cached with all five
    # Two posts leave behind the cache's back (no signal): their ids are stale.
    BlogPage.objects.filter(pk__in=[posts[0].pk, posts[1].pk]).update(live=False)

    for _ in range(10):
        with django_assert_max_num_queries(6):  # never a query per stale id
            picked = random_posts(count=3)
        assert sorted(post.pk for post in picked) == sorted(post.pk for post in posts[2:])
