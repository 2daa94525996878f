"""The public blog: view counter, drafts, the paginated index and conditional GET."""

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.utils import timezone

from blog import services
from blog.models import BlogPage
from blog.tests.factories import blog_index, cover_image, make_post, make_posts


def views_shown(response) -> int:
    return int(re.search(r'data-testid="view-count">([\d,]+)<', response.content.decode())[1])


def view_count(post: BlogPage) -> int:
    return BlogPage.objects.get(pk=post.pk).view_count


@pytest.fixture
def post(db) -> BlogPage:
    return make_post("Counting views", intro="The original introduction.", cover=cover_image())


# --- View counter ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_view_adds_exactly_one(client, post):
    for expected in (1, 2, 3):
        response = client.get(post.url)
        assert response.status_code == 200
        assert view_count(post) == expected
        assert views_shown(response) == expected


@pytest.mark.django_db
def test_views_count_when_the_body_comes_from_the_fragment_cache(client, post):
    client.get(post.url)
    # Change the stored intro behind Wagtail's back (no new publish, so the page's cache key
    # is the same): if the next view shows the old text, its body came from the cache.
    BlogPage.objects.filter(pk=post.pk).update(intro="Changed without publishing.")

    response = client.get(post.url)

    html = response.content.decode()
    assert "The original introduction." in html
    assert "Changed without publishing." not in html
    assert view_count(post) == 2
    assert views_shown(response) == 2


@pytest.mark.django_db
def test_a_reader_who_reloads_sees_the_count_rise(client, post):
    first = client.get(post.url)

    again = client.get(post.url, headers={"if-none-match": first["ETag"]})

    assert again.status_code == 200  # never a stale copy with the old count
    assert (views_shown(first), views_shown(again)) == (1, 2)
    assert view_count(post) == 2


@pytest.mark.django_db
def test_head_requests_and_other_methods_are_not_views(client, post):
    assert client.head(post.url).status_code == 200
    assert client.post(post.url).status_code == 405

    assert view_count(post) == 0


@pytest.mark.django_db
def test_signed_in_readers_views_count_too(user, client_for, post):
    client = client_for(user)
    client.get(post.url)
    client.get(post.url)

    assert view_count(post) == 2


@pytest.mark.django_db
def test_publishing_a_new_revision_keeps_the_count(client, post):
    for _ in range(3):
        client.get(post.url)
    page = BlogPage.objects.get(pk=post.pk)
    page.title = "Counting views, revised"
    page.save_revision().publish()

    assert view_count(post) == 3
    response = client.get(post.url)
    assert "Counting views, revised" in response.content.decode()
    assert views_shown(response) == 4


@pytest.mark.django_db
def test_views_during_an_edit_are_not_lost_when_it_is_published(client, post):
    """The editor's copy of the page was loaded before these views; publishing it must not
    write its stale counter back."""
    editor_copy = BlogPage.objects.get(pk=post.pk)
    editor_copy.title = "Edited while people were reading"
    revision = editor_copy.save_revision()
    for _ in range(4):
        client.get(post.url)

    revision.publish()

    assert view_count(post) == 4
    assert BlogPage.objects.get(pk=post.pk).title == "Edited while people were reading"


@pytest.mark.django_db
def test_unpublishing_and_republishing_keeps_the_count(client, post):
    client.get(post.url)
    client.get(post.url)
    page = BlogPage.objects.get(pk=post.pk)

    page.unpublish()
    page.get_latest_revision().publish()

    assert view_count(post) == 2


@pytest.mark.django_db
def test_a_copy_of_a_post_starts_with_no_views(client, post):
    client.get(post.url)

    copy = BlogPage.objects.get(pk=post.pk).copy(update_attrs={"slug": "copied", "title": "Copy"})

    assert view_count(copy) == 0
    assert view_count(post) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_views_are_all_counted(post):
    """Readers at the same moment, each on their own database connection: no view is lost
    (the count is one atomic statement, not a read followed by a write)."""
    readers, views_each = 8, 25
    request = RequestFactory().get(post.url)

    def read() -> None:
        try:
            for _ in range(views_each):
                services.record_view(page=post, request=request)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=readers) as pool:
        for future in [pool.submit(read) for _ in range(readers)]:
            future.result()

    assert view_count(post) == readers * views_each


# --- Drafts ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_draft_answers_404_to_the_public(client, user, client_for):
    draft = make_post("Not yet", live=False)
    url = blog_index().url + "not-yet/"

    assert client.get(url).status_code == 404
    assert client_for(user).get(url).status_code == 404
    assert view_count(draft) == 0


@pytest.mark.django_db
def test_unpublished_changes_stay_private(client, post):
    page = BlogPage.objects.get(pk=post.pk)
    page.title = "Secret new title"
    page.save_revision()

    html = client.get(post.url).content.decode()

    assert "Counting views" in html
    assert "Secret new title" not in html


# --- Index -------------------------------------------------------------------------------------


def index_titles(response) -> list[str]:
    return re.findall(r'class="stretched-link[^"]*"[^>]*>([^<]+)</a>', response.content.decode())


@pytest.mark.django_db
def test_the_index_is_paginated_newest_first(client):
    make_posts(11)  # Post 11 is the newest
    make_post("Draft", live=False, published=timezone.localdate() + timedelta(days=1))
    index = blog_index()

    first = client.get(index.url)
    second = client.get(index.url, {"page": 2})

    assert index_titles(first) == [f"Post {n}" for n in range(11, 2, -1)]
    assert index_titles(second) == ["Post 2", "Post 1"]
    assert "?page=2" in first.content.decode()
    assert "1\N{EN DASH}9 of 11" in first.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(("page", "expected_first"), [("99", "Post 2"), ("abc", "Post 11")])
def test_out_of_range_pages_fall_back(client, page, expected_first):
    make_posts(11)

    response = client.get(blog_index().url, {"page": page})

    assert response.status_code == 200
    assert index_titles(response)[0] == expected_first


@pytest.mark.django_db
def test_posts_on_the_same_day_are_ordered_by_creation(client):
    day = timezone.localdate()
    make_post("Morning", published=day)
    make_post("Evening", published=day)

    assert index_titles(client.get(blog_index().url)) == ["Evening", "Morning"]


# --- Conditional GET ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("which", ["home", "index"])
def test_public_pages_answer_conditional_gets(client, which):
    make_posts(10)  # more than the home page's three cards, which differ per visit
    url = {"home": "/", "index": blog_index().url}[which]

    response = client.get(url)
    etag = response.get("ETag")
    assert response.status_code == 200
    assert etag

    again = Client().get(url, headers={"if-none-match": etag})

    assert again.status_code == 304
    assert again["ETag"] == etag
