"""A visitor signs up from the form an editor placed on a post, confirms from the mail, and the
owner sees them confirmed; a person downloads their data and deletes their account."""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from blog.tests.factories import make_post
from conftest import PASSWORD
from mailing.models import Membership, RecipientList
from mailing.smtp_sink import SmtpSink
from users.models import User

from .conftest import sign_in

pytestmark = pytest.mark.e2e


def test_a_visitor_signs_up_from_a_post_and_confirms_from_the_mail(
    new_page, user, smtp_sink: SmtpSink, transactional_db
):
    news = RecipientList.objects.create(owner=user, name="Newsletter", is_public=True)
    post = make_post(
        "Spring",
        body=[{"type": "signup", "value": {"list_key": news.public_key, "heading": "Stay"}}],
    )

    visitor: Page = new_page()
    visitor.goto(post.url)
    form = visitor.get_by_test_id("signup-form")
    form.get_by_label("Your email address").fill("reader@example.net")
    form.get_by_role("button", name="Join the list").click()
    expect(visitor.get_by_test_id("signup-sent")).to_contain_text("Check your inbox")
    [received] = smtp_sink.received
    payload = received.message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    link = re.search(r"(https?://\S+/join/confirm/\S+/)", body)[1]
    assert Membership.objects.get().status == Membership.Status.PENDING

    visitor.goto(urlsplit(link).path)  # the live server stands in for SITE_URL
    visitor.get_by_role("button", name="Yes, sign me up").click()
    expect(visitor.get_by_test_id("signup-confirmed")).to_contain_text("You are on the list")

    owner: Page = new_page()
    sign_in(owner, user.email, PASSWORD)
    owner.goto(f"/dashboard/lists/{news.pk}/")
    expect(owner.get_by_test_id("list-counts")).to_contain_text("1 confirmed member")


def test_a_person_downloads_their_data_and_deletes_their_account(
    new_page, user, make_mailing, transactional_db
):
    make_mailing(user, recipients=2)
    page: Page = new_page()
    sign_in(page, user.email, PASSWORD)
    page.goto("/accounts/profile/")
    with page.expect_download() as download:
        page.get_by_test_id("download-data").click()
    assert download.value.suggested_filename.startswith("my-data-")

    page.get_by_test_id("delete-account").click()
    page.get_by_label("Your password").fill("wrong password")
    page.get_by_test_id("confirm-delete-account").click()
    expect(page.get_by_text("This is not your password.")).to_be_visible()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_test_id("confirm-delete-account").click()
    expect(page.get_by_test_id("messages")).to_contain_text("Your account and all its data")
    assert not User.objects.filter(pk=user.pk).exists()
