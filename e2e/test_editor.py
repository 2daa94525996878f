"""Flow 5: an editor writes and publishes an illustrated blog post in the Wagtail admin, and
visitors find it on the home page."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from blog.models import BlogIndexPage
from users.groups import BLOGGERS, PUBLISHERS

from .browser import submit_sign_in_form
from .conftest import PASSWORD, publish_post

pytestmark = pytest.mark.e2e

TITLE = "Five habits of readable newsletters"
PARAGRAPH = "Readers skim. Give every paragraph one idea and a clear first line."


@pytest.fixture
def editor(blog, make_user):
    editor = make_user("editor@example.com", first_name="Eli")
    editor.groups.add(Group.objects.get(name=BLOGGERS), Group.objects.get(name=PUBLISHERS))
    return editor


def wait_until_in_form(page: Page, text: str) -> None:
    """Draftail writes what was typed into its hidden input a moment later (it debounces);
    a Publish clicked before that would post the paragraph empty."""
    page.wait_for_function(
        """text => [...new FormData(document.getElementById("page-edit-form")).values()]
            .some(value => typeof value === "string" && value.includes(text))""",
        arg=text,
    )


def test_an_editor_publishes_an_illustrated_post_that_appears_on_the_home_page(
    page: Page,
    new_page: Callable[[], Page],
    blog: BlogIndexPage,
    editor,
    image_file: Callable[..., Path],
    settings,
):
    # Wagtail's autosave is its own feature, and its requests race a Publish (an autosave
    # answered after it saves the page back as a draft): this flow is the editor's, so the
    # editor here writes, then publishes, in one form post.
    settings.WAGTAIL_AUTOSAVE_INTERVAL = 0
    # A visitor reads the home page first, so that its anonymous copy is in the cache.
    publish_post(blog, "Ten subject lines that get opened")
    visitor = new_page()
    visitor.goto("/")
    expect(visitor.get_by_test_id("blog-card")).to_have_count(1)

    page.goto("/admin/")  # Wagtail sends the editor to allauth's sign-in form, then back
    submit_sign_in_form(page, editor.email, PASSWORD)

    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    page.goto("/admin/pages/")  # an editor's page tree starts at the blog
    expect(page.get_by_role("heading", name="Blog")).to_be_visible()
    page.get_by_role("link", name="Add child page").first.click()
    expect(page.get_by_role("heading", name="New: Blog page")).to_have_count(1)

    page.get_by_placeholder("Page title*").fill(TITLE)
    page.get_by_role("textbox", name="Intro").fill(
        "Short paragraphs, one idea each, and a clear ask."
    )

    page.get_by_role("button", name="Choose an image").click()
    chooser = page.get_by_role("dialog")
    chooser.get_by_role("tab", name="Upload").click()
    chooser.get_by_label("Title").fill("Newsletter cover")
    chooser.get_by_label("File").set_input_files(image_file("newsletter-cover.png"))
    chooser.get_by_role("button", name="Upload").click()
    expect(chooser).to_be_hidden()
    expect(page.get_by_text("Newsletter cover")).to_be_visible()

    page.get_by_role("button", name="Insert a block").first.click()
    page.get_by_role("option", name="Paragraph").click()
    paragraph = page.get_by_role("textbox").and_(page.locator("[contenteditable=true]"))
    paragraph.fill(PARAGRAPH)
    wait_until_in_form(page, PARAGRAPH)

    page.get_by_role("button", name="More actions").click()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text(f"Page '{TITLE}' created and published.")).to_be_visible()

    # The visitor reloads: publishing renewed the cached copy, and the new post is there.
    visitor.reload()
    expect(visitor.get_by_test_id("blog-card")).to_have_count(2)
    card = visitor.get_by_test_id("blog-card").filter(has_text=TITLE)
    expect(card).to_be_visible()
    expect(card.locator("img")).to_have_attribute("src", re.compile(r"/media/images/"))
    card.get_by_role("link", name=TITLE).click()
    expect(visitor.get_by_role("heading", level=1)).to_have_text(TITLE)
    cover = visitor.locator("article img").first
    visitor.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=cover.element_handle()
    )
    expect(visitor.locator("article")).to_contain_text(PARAGRAPH)
