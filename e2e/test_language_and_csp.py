"""In the real browser: the navbar's language switcher, and pages that work under the
Content-Security-Policy with nothing refused (the site's pages and Wagtail's admin)."""

import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import ConsoleMessage, Page, expect

from conftest import PASSWORD
from users.groups import BLOGGERS, PUBLISHERS

from .browser import sign_in_to_admin
from .conftest import sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def refusals(page: Page) -> Iterator[list[str]]:
    """What the browser refused under the page's Content-Security-Policy."""
    refused: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(f"{page.url}: {message.text}")

    page.on("console", note)
    yield refused


def test_the_switcher_changes_the_language_and_a_signed_in_choice_is_kept(
    page: Page, user, refusals
):
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_test_id("language-menu").click()
    page.get_by_role("button", name="Русский").click()

    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("link", name="Войти")).to_be_visible()

    # Signed in, the choice goes into the profile: English again, then a fresh sign-in.
    page.get_by_test_id("language-menu").click()
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    sign_in(page, user.email, PASSWORD)
    page.get_by_test_id("language-menu").click()
    page.get_by_role("button", name="Русский").click()
    expect(page.get_by_role("link", name="Получатели")).to_be_visible()
    page.context.clear_cookies()  # another browser, as it were
    page.goto("/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    assert refusals == []


def test_dashboard_pages_run_with_nothing_refused(
    page: Page, user, make_mailing, record_attempt, refusals
):
    mailing = make_mailing(user, recipients=2)
    record_attempt(mailing)
    sign_in(page, user.email, PASSWORD)

    for path in (
        "/dashboard/",
        f"/dashboard/mailings/{mailing.pk}/",
        "/dashboard/mailings/new/",
        "/accounts/profile/",
    ):
        page.goto(path)
        expect(page.get_by_test_id("account-menu")).to_be_visible()
    # The chart drew (Chart.js sizes its canvas), and the progress bar has its width.
    page.goto(f"/dashboard/mailings/{mailing.pk}/")
    expect(page.locator("#attempts-chart")).to_have_attribute("style", re.compile("width"))
    expect(page.locator(".progress-bar")).to_have_attribute("style", re.compile(r"width: \d+%"))
    assert refusals == []


def test_wagtails_admin_runs_with_nothing_refused(page: Page, blog, make_user, refusals):
    editor = make_user("editor@example.com")
    editor.groups.add(Group.objects.get(name=BLOGGERS), Group.objects.get(name=PUBLISHERS))

    sign_in_to_admin(page, editor.email, PASSWORD)
    page.goto("/admin/pages/")
    page.get_by_role("link", name="Add child page").first.click()
    expect(page.get_by_placeholder("Page title*")).to_be_visible()
    # A public page with Wagtail's user bar, which an editor sees there.
    page.goto("/blog/")
    expect(
        page.locator("wagtail-userbar, [data-wagtail-userbar], #wagtail-userbar-trigger").first
    ).to_be_attached()

    assert refusals == []
