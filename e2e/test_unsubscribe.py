"""A recipient unsubscribes from the link in a campaign mail; the owner sees it in the list."""

import threading
from urllib.parse import urlsplit

import pytest
from django.db import connection
from playwright.sync_api import Page, expect

from conftest import PASSWORD
from mailing import delivery
from mailing.models import Suppression
from mailing.smtp_sink import SmtpSink

from .conftest import sign_in

pytestmark = pytest.mark.e2e


def test_a_recipient_unsubscribes_with_one_click_and_the_owner_sees_it(
    new_page, user, make_mailing, smtp_sink: SmtpSink, transactional_db
):
    mailing = make_mailing(user, recipients=1)
    email = mailing.recipients.get().email
    delivery.start_run(mailing=mailing)
    # In a thread of its own: Playwright's loop runs in this one, and the sender has its own.
    sender = threading.Thread(target=_deliver)
    sender.start()
    sender.join(timeout=60)
    [received] = smtp_sink.received
    link = received.message["List-Unsubscribe"].strip("<>")

    recipient = new_page()
    recipient.goto(urlsplit(link).path)  # the live server stands in for SITE_URL
    expect(recipient.get_by_role("heading", name="Unsubscribe")).to_be_visible()
    assert not Suppression.objects.exists()  # opening the page changes nothing
    recipient.get_by_role("button", name="Unsubscribe").click()
    expect(recipient.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    assert Suppression.objects.get().email == email

    owner: Page = new_page()
    sign_in(owner, user.email, PASSWORD)
    owner.goto("/dashboard/recipients/")
    expect(owner.get_by_test_id("suppressed")).to_contain_text("Unsubscribed since")
    owner.get_by_role("link", name="Suppressed addresses").click()
    expect(owner.get_by_test_id("suppressions")).to_contain_text(email)
    expect(owner.get_by_role("link", name="Mail again")).to_have_count(0)


def _deliver() -> None:
    try:
        delivery.deliver()
    finally:
        connection.close()
