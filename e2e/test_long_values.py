"""A 200-character name or subject in a dashboard table: the row's actions stay on screen, on a
phone and on a desktop, and the whole text is still there to read (the cell's title)."""

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from mailing.models import Recipient

from .conftest import PASSWORD, sign_in

pytestmark = pytest.mark.e2e

LONG = ("Ada Augusta King, Countess of Lovelace " * 6)[:200].strip()


def fully_in_view(page: Page, locator) -> bool:
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


@pytest.mark.parametrize("width", [375, 1280], ids=["phone", "desktop"])
def test_long_values_never_push_the_row_actions_off_screen(
    new_page: Callable[[], Page], user, make_mailing, width
):
    mailing = make_mailing(user, recipients=1, subject=LONG)
    Recipient.objects.filter(mailings=mailing).update(full_name=LONG)
    page = new_page()
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, user.email, PASSWORD)

    page.goto("/dashboard/recipients/")
    row = page.locator("tbody tr").first
    expect(row.get_by_title(LONG)).to_have_count(1)
    assert fully_in_view(page, row.get_by_role("link", name="Delete"))
    assert fully_in_view(page, row.get_by_role("link", name="Edit"))

    page.goto("/dashboard/mailings/")
    row = page.locator("tbody tr").first
    expect(row.get_by_title(LONG)).to_have_count(1)
    assert fully_in_view(page, row.get_by_role("link", name="Edit"))
    assert fully_in_view(page, row.get_by_role("button", name="Send now"))
