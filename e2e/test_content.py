"""In the real browser: a Markdown message's preview in its sandboxed frame, its text part,
and "Send me a test" reaching the owner's own address."""

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from conftest import PASSWORD
from mailing import services
from mailing.models import Recipient

from .conftest import sign_in

pytestmark = pytest.mark.e2e


def test_the_preview_shows_the_html_in_a_frame_and_the_test_reaches_the_owner(
    page: Page, user, smtp_sink
):
    refused: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "sandboxed" in message.text:
            refused.append(message.text)

    page.on("console", note)
    Recipient.objects.create(owner=user, email="anna@example.org", full_name="Anna Petrova")
    message = services.message_create(
        owner=user,
        subject="News for {{ first_name }}",
        body="# Hello {{ first_name }}\n\n<script>alert(1)</script>**Bold** and [a link](https://example.com/).",
    )
    sign_in(page, user.email, PASSWORD)

    page.goto(f"/dashboard/messages/{message.pk}/")

    expect(page.get_by_test_id("preview-subject")).to_have_text("News for Anna")
    frame = page.frame_locator('[data-testid="preview-frame"]')
    expect(frame.get_by_role("heading", name="Hello Anna")).to_be_visible()
    expect(frame.locator("strong")).to_have_text("Bold")
    page.get_by_role("tab", name="Text part").click()
    expect(page.get_by_test_id("preview-text")).to_contain_text(
        "Bold and a link (https://example.com/)"
    )

    page.get_by_test_id("send-test").click()

    expect(page.get_by_text(f"A test was sent to {user.email}.")).to_be_visible()
    assert [r.rcpt_to for r in smtp_sink.received] == [user.email]
    assert smtp_sink.received[0].message["Subject"] == "[Test] News for Alice"
    assert refused == []
