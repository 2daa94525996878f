"""Flows 2 and 6: signing up with a verified address, editing the profile, and resetting a
forgotten password, each through the mail the SMTP server really received."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from mailing.smtp_sink import SmtpSink

from .browser import submit_sign_in_form
from .conftest import PASSWORD, link_in_mail, sign_in

pytestmark = pytest.mark.e2e

CONFIRM_HEADING = re.compile(r"(verify|confirm) your email address", re.IGNORECASE)


def test_a_visitor_signs_up_verifies_the_address_signs_in_and_edits_the_profile(
    page: Page, smtp_sink: SmtpSink, image_file: Callable[..., Path]
):
    email = "nora@example.com"
    page.goto("/")
    page.get_by_role("link", name="Sign up", exact=True).click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_test_id("messages")).to_contain_text(f"Confirmation email sent to {email}")
    expect(page.get_by_role("heading", level=1)).to_have_text(CONFIRM_HEADING)

    # Unverified, the account cannot sign in yet.
    page.goto("/accounts/login/")
    submit_sign_in_form(page, email, PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text(CONFIRM_HEADING)

    page.goto(link_in_mail(smtp_sink, email, "/accounts/confirm-email/"))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_test_id("messages")).to_contain_text(f"You have confirmed {email}")

    sign_in(page, email, PASSWORD)
    page.get_by_test_id("account-menu").click()
    page.get_by_role("link", name="Profile").click()
    page.get_by_label("First name").fill("Nora")
    page.get_by_label("Last name").fill("Lindqvist")
    page.get_by_label("Phone").fill("+46 8 123 456 78")
    page.get_by_label("Country").select_option(label="Sweden")
    page.get_by_label("Avatar").set_input_files(image_file("portrait.png", (200, 80, 60)))
    page.get_by_role("button", name="Save profile").click()

    expect(page.get_by_test_id("messages")).to_contain_text("Your profile has been saved.")
    card = page.locator(".card", has=page.get_by_role("heading", name="Nora Lindqvist"))
    expect(card).to_contain_text("+46 8 123 456 78")
    expect(card).to_contain_text("Sweden")
    avatar = card.get_by_test_id("profile-avatar").locator("img")
    expect(avatar).to_have_attribute("src", re.compile(r"/media/avatars/.+\.png$"))
    # The uploaded picture is served back and decodes as an image.
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=avatar.element_handle()
    )


def test_a_user_resets_a_forgotten_password_through_the_emailed_link(
    page: Page, user, smtp_sink: SmtpSink
):
    new_password = "a-brand-new-passphrase-42"
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Reset My Password").click()
    expect(page.get_by_text("We have sent you an email")).to_be_visible()

    page.goto(link_in_mail(smtp_sink, user.email, "/accounts/password/reset/key/"))
    page.get_by_label("New Password", exact=True).fill(new_password)
    page.get_by_label("New Password (again)").fill(new_password)
    page.get_by_role("button", name="Change Password").click()
    expect(page.get_by_text("Your password is now changed.")).to_be_visible()

    # The old password no longer works; the new one does.
    page.goto("/accounts/login/")
    submit_sign_in_form(page, user.email, PASSWORD)
    expect(
        page.get_by_text("The email address and/or password you specified are not correct.")
    ).to_be_visible()
    sign_in(page, user.email, new_password)
