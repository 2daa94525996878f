"""The schedule modal: a refused time comes back in the open modal, under the field."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from conftest import PASSWORD

from .conftest import sign_in

pytestmark = pytest.mark.e2e


def test_a_refused_schedule_time_is_shown_in_the_open_modal(page: Page, user, make_mailing):
    mailing = make_mailing(user, recipients=1, first_send_at=timezone.now() + timedelta(days=1))
    sign_in(page, user.email, PASSWORD)
    page.goto(f"/dashboard/mailings/{mailing.pk}/")
    modal = page.locator("#schedule-modal")
    expect(modal).to_be_hidden()

    page.get_by_role("button", name="Schedule…").click()
    expect(modal).to_be_visible()
    yesterday = timezone.localtime() - timedelta(days=1)
    modal.get_by_label("Next send").fill(yesterday.strftime("%Y-%m-%dT%H:%M"))
    modal.get_by_role("button", name="Schedule", exact=True).click()

    # The page again, with the modal already open and the reason next to the field.
    expect(modal).to_be_visible()
    expect(modal.get_by_text("Choose a time in the future.")).to_be_visible()
    expect(modal.get_by_label("Next send")).to_have_value(yesterday.strftime("%Y-%m-%dT%H:%M"))
    expect(page.get_by_test_id("messages")).to_have_count(0)

    later = (timezone.localtime() + timedelta(days=2)).replace(second=0, microsecond=0)
    modal.get_by_label("Next send").fill(later.strftime("%Y-%m-%dT%H:%M"))
    modal.get_by_role("button", name="Schedule", exact=True).click()
    expect(page.get_by_test_id("messages")).to_contain_text(
        f"Next send set to {later:%Y-%m-%d %H:%M}."
    )
    expect(modal).to_be_hidden()
    expect(page.get_by_test_id("next-send")).to_have_text(f"{later:%Y-%m-%d %H:%M}")
