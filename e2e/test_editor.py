"""Flow 5: an editor writes and publishes an illustrated blog post in the Wagtail admin, and
visitors find it on the home page."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from conftest import PASSWORD
from users.roles import BLOGGERS, PUBLISHERS, sync_groups

pytestmark = pytest.mark.e2e

TITLE = "Five habits of readable newsletters"
PARAGRAPH = "Readers skim. Give every paragraph one idea and a clear first line."

# Set before any page script runs: Wagtail's unsaved-changes controller announces when it
# has taken the form's initial snapshot; only edits after that are autosaved.
WATCH_EDITS = """
document.addEventListener("w-unsaved:watch-edits", () => { window.editorWatching = true; });
"""


@pytest.fixture
def editor(blog, make_user):
    sync_groups()  # page permissions on the new blog index
    editor = make_user("editor@example.com", first_name="Eli")
    editor.groups.add(Group.objects.get(name=BLOGGERS), Group.objects.get(name=PUBLISHERS))
    return editor


def wait_until_in_form(page: Page, text: str) -> None:
    """Draftail writes what was typed into its hidden input a moment later (it debounces);
    a Publish clicked before that posts the paragraph empty. Wait until the data the form
    would submit holds the text."""
    page.wait_for_function(
        """text => [...new FormData(document.getElementById("page-edit-form")).values()]
            .some(value => typeof value === "string" && value.includes(text))""",
        arg=text,
    )


def wait_until_autosaved(page: Page) -> None:
    """Wagtail 8 autosaves the editor form; the first autosave creates the page. A Publish
    posted while that request is in flight creates the page a second time and fails ("slug
    already in use"), so a careful editor (and this test) waits for "Saved" first."""
    expect(page).to_have_url(re.compile(r"/admin/pages/\d+/edit/$"))
    expect(page.locator("#w-autosave-indicator")).to_have_attribute(
        "data-w-autosave-state-value", "saved"
    )
    expect(page.locator("#page-edit-form")).to_have_attribute(
        "data-w-unsaved-has-edits-value", "false"
    )


def test_an_editor_publishes_an_illustrated_post_that_appears_on_the_home_page(
    page: Page, editor, image_file: Callable[..., Path]
):
    page.context.add_init_script(WATCH_EDITS)
    page.goto("/admin/")
    page.get_by_label("Email").fill(editor.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    page.goto("/admin/pages/")  # an editor's page tree starts at the blog
    expect(page.get_by_role("heading", name="Blog")).to_be_visible()
    page.get_by_role("link", name="Add child page").first.click()
    expect(page.get_by_role("heading", name="New: Blog page")).to_have_count(1)
    page.wait_for_function("window.editorWatching === true")

    page.get_by_placeholder("Page title*").fill(TITLE)
    page.get_by_role("textbox", name="Intro").fill(
        "Short paragraphs, one idea each, and a clear ask."
    )
    wait_until_autosaved(page)

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
    expect(paragraph).to_have_text(PARAGRAPH)
    wait_until_in_form(page, "Readers skim.")
    wait_until_autosaved(page)

    page.get_by_role("button", name="More actions").click()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text(f"Page '{TITLE}' has been published.")).to_be_visible()

    # Visitors: the only live post is among the home page's three.
    page.goto("/")
    card = page.get_by_test_id("blog-card").filter(has_text=TITLE)
    expect(card).to_be_visible()
    expect(card.locator("img")).to_have_attribute("src", re.compile(r"/media/images/"))
    card.get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    cover = page.locator("article img").first
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=cover.element_handle()
    )
    expect(page.locator("article")).to_contain_text("Readers skim.")
