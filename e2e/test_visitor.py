"""Flow 1: a visitor reads the home page and a blog post."""

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from mailing.models import Mailing

from .conftest import publish_post

pytestmark = pytest.mark.e2e

TITLES = [
    "Writing a subject line people open",
    "Daily, weekly or monthly?",
    "Keeping your list clean",
    "Plain text still wins",
]


def test_a_visitor_sees_the_totals_and_three_posts_and_every_view_is_counted(
    page: Page, new_page: Callable[[], Page], blog, make_user, make_mailing
):
    owner = make_user("owner@example.com")
    make_mailing(owner, recipients=2)
    running = make_mailing(owner, recipients=3)
    Mailing.objects.filter(pk=running.pk).update(status=Mailing.Status.LAUNCHED)
    for days_ago, title in enumerate(TITLES):
        publish_post(blog, title, days_ago=days_ago)

    page.goto("/")
    expect(page.get_by_test_id("total-mailings")).to_have_text("2")
    expect(page.get_by_test_id("total-active")).to_have_text("1")
    expect(page.get_by_test_id("total-recipients")).to_have_text("5")
    cards = page.get_by_test_id("blog-card")
    expect(cards).to_have_count(3)
    shown = cards.get_by_role("link").all_inner_texts()
    assert len(set(shown)) == 3
    assert set(shown) <= set(TITLES)

    cards.get_by_role("link", name=shown[0]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(shown[0])
    expect(page.get_by_test_id("view-count")).to_have_text("1")
    expect(page.locator("article")).to_contain_text("1 view")

    # Another reader, with a browser of their own, finds the post through the blog's list.
    reader = new_page()
    reader.goto("/")
    reader.get_by_role("link", name="All posts").click()
    reader.get_by_role("link", name=shown[0]).click()
    expect(reader.get_by_role("heading", level=1)).to_have_text(shown[0])
    expect(reader.get_by_test_id("view-count")).to_have_text("2")
    expect(reader.locator("article")).to_contain_text("2 views")
