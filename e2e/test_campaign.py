"""Flow 3: a user builds a campaign in the dashboard, sends it now, watches the progress bar
fill while the scheduler process delivers it, and reads the report."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from mailing.smtp_sink import SmtpSink

from .conftest import PASSWORD, sign_in

pytestmark = pytest.mark.e2e

RECIPIENTS = [("ada@example.net", "Ada Lovelace"), ("alan@example.net", "Alan Turing")]
SUBJECT = "Our spring newsletter"


def test_a_user_sends_a_mailing_now_and_watches_it_reach_every_recipient(
    page: Page, user, smtp_sink: SmtpSink, scheduler
):
    sign_in(page, user.email, PASSWORD)

    for email, name in RECIPIENTS:
        page.get_by_role("link", name="Recipients", exact=True).click()
        page.get_by_role("link", name="Add recipient").click()
        page.get_by_label("Email").fill(email)
        page.get_by_label("Full name").fill(name)
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_test_id("messages")).to_contain_text("Recipient added.")
        expect(page.get_by_role("main")).to_contain_text(email)

    page.get_by_role("link", name="Messages", exact=True).click()
    page.get_by_role("link", name="Write message").click()
    page.get_by_label("Subject").fill(SUBJECT)
    page.get_by_label("Body").fill("Hello,\n\nSpring is here, and so are our new plans.\n\nDana")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("messages")).to_contain_text("Message saved.")

    # Planned for tomorrow, so that nothing goes out until "Send now" is pressed.
    tomorrow = timezone.localtime() + timedelta(days=1)
    page.get_by_role("link", name="Mailings", exact=True).click()
    page.get_by_role("link", name="New mailing").click()
    page.get_by_label("Message", exact=True).select_option(label=SUBJECT)
    # The picker: type part of a name, pick the match; the chips show what is chosen.
    search = page.get_by_label("Recipients", exact=True)
    for email, name in RECIPIENTS:
        search.fill(name.split()[0])
        page.get_by_role("option", name=f"{name} <{email}>").click()
        expect(page.locator("[data-picker-chosen]").last).to_contain_text(name)
    page.get_by_label("First send").fill(tomorrow.strftime("%Y-%m-%dT09:00"))
    page.get_by_label("End", exact=True).fill(
        (tomorrow + timedelta(days=30)).strftime("%Y-%m-%dT09:00")
    )
    page.get_by_label("Periodicity").select_option(label="Once")
    expect(page.locator("[data-audience-summary]")).to_contain_text("2 recipients as of now")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("messages")).to_contain_text("Mailing saved.")
    expect(page.get_by_test_id("mailing-status")).to_have_text("Created")
    expect(page.get_by_test_id("progress")).to_have_attribute("aria-valuenow", "0")

    # Alan's mail server takes its time, so the run is still going when the page shows it.
    smtp_sink.script(RECIPIENTS[1][0], "slow")
    page.get_by_test_id("send-now").click()
    # Send now asks first, in a dialog that says how many are mailed.
    dialog = page.get_by_test_id("confirm-modal")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("is sent to 2 recipients at once.")
    dialog.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("messages")).to_contain_text("Sending to 2 recipients has started.")
    # Anything set on `window` survives only as long as the page is not reloaded.
    page.evaluate("window.stillTheSamePage = true")
    card = page.locator("#progress-card")
    progress = page.get_by_test_id("progress")
    expect(card.locator('[data-progress="state"]')).to_have_text("sending…")
    assert progress.get_attribute("aria-valuenow") != "100"

    expect(progress).to_have_attribute("aria-valuenow", "100", timeout=60_000)
    expect(progress).to_have_text("100%")
    expect(card.locator('[data-progress="sent"]')).to_have_text("2")
    expect(card.locator('[data-progress="failed"]')).to_have_text("0")
    expect(card.locator('[data-progress="pending"]')).to_have_text("0")
    expect(card.locator('[data-progress="state"]')).to_have_text("done", timeout=30_000)
    # The runs table says the same as the bar, without a reload.
    run_row = page.locator("tr[data-run-id]").first
    expect(run_row.locator('[data-run-cell="sent"]')).to_have_text("2")
    expect(run_row.locator('[data-run-cell="total"]')).to_have_text("2")
    assert page.evaluate("window.stillTheSamePage") is True

    page.get_by_role("link", name="Done — refresh the report").click()
    report = page.get_by_test_id("attempt-table")
    rows = report.locator("tbody tr")
    expect(rows).to_have_count(2)
    for email, _ in RECIPIENTS:
        row = rows.filter(has_text=email)
        expect(row.get_by_text("Success")).to_be_visible()
        expect(row).to_contain_text("250")
    expect(page.get_by_text("2 ok")).to_be_visible()
    expect(page.get_by_text("0 failed")).to_be_visible()

    assert sorted(smtp_sink.counts.elements()) == sorted(email for email, _ in RECIPIENTS)
    assert {mail.message["Subject"] for mail in smtp_sink.received} == {SUBJECT}
