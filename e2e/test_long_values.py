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


@pytest.mark.parametrize("width", [390, 1280], ids=["phone", "desktop"])
def test_long_values_on_the_other_lists_and_the_reports_server_replies(
    new_page: Callable[[], Page], user, manager, make_mailing, record_attempt, width
):
    mailing = make_mailing(user, recipients=1, subject=LONG)
    make_mailing(user, recipients=1, subject="Unbroken" + "x" * 190)  # no place to wrap
    reply = "550 5.1.1 " + "The mailbox you tried does not exist here, try another one. " * 10
    long_address = "a-" + "very-long-local-part-" * 8 + "x@example.org"
    record_attempt(mailing, email=long_address, status="failure", server_response=reply)
    type(user).objects.filter(pk=user.pk).update(first_name=LONG[:150])

    page = new_page()
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, user.email, PASSWORD)

    page.goto("/dashboard/messages/")
    for item in page.locator(".list-group-item").all():
        assert fully_in_view(page, item.locator("small").first)  # the date stays in view
    expect(page.get_by_title(LONG)).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")

    page.goto("/dashboard/attempts/")
    row = page.locator("tbody tr").first
    expect(row.get_by_title(long_address)).to_have_count(1)
    cell = row.locator("td.response")
    # The whole reply is there to read, wrapped in its cell: nothing cut off or hidden.
    expect(cell).to_have_text(reply.strip())
    assert cell.evaluate("c => c.scrollWidth <= c.clientWidth + 1")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")

    boss = new_page()
    boss.set_viewport_size({"width": width, "height": 800})
    sign_in(boss, manager.email, PASSWORD)
    boss.goto("/dashboard/users/?q=alice")
    row = boss.locator("tbody tr").first
    expect(row.get_by_title(user.email)).to_have_count(1)
    assert fully_in_view(boss, row.get_by_role("link", name="Block…"))
