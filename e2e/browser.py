"""How this project drives Chromium (the end-to-end suite and `make screenshots` alike): where the
browser is, how it is started, and how a person signs in."""

import os
import re

from playwright.sync_api import Page, expect

# Debian's Chromium: a test tool's own browser download does not work on this machine.
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
# Headless as root, with no background traffic to Google's hosts (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# allauth's form is the one sign-in, for the site and for Wagtail's admin alike.
SIGN_IN_PATH = "/accounts/login/"


def submit_sign_in_form(page: Page, email: str, password: str) -> None:
    """Fill in the sign-in form the page shows and press its button; wait for nothing."""
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign In").click()


def sign_in(page: Page, email: str, password: str) -> None:
    """Sign in through the site's own form and wait until the page it lands on (the dashboard)
    shows the account menu of `email`."""
    page.goto(SIGN_IN_PATH)
    submit_sign_in_form(page, email, password)
    expect(page.get_by_test_id("account-menu")).to_contain_text(email)


def sign_in_to_admin(page: Page, email: str, password: str) -> None:
    """Sign in to Wagtail's admin and wait for its dashboard.

    Through the site's form with ?next=/admin/, where /admin/login/ redirects: the admin has no
    sign-in of its own, so an editor passes the same checks (verified address, rate limits)."""
    page.goto(f"{SIGN_IN_PATH}?next=/admin/")
    submit_sign_in_form(page, email, password)
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator(".w-dashboard")).to_be_visible()
