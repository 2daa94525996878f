"""Flow 4: a manager looks at a user's mailing read-only, disables it and blocks the user, who
then sees the block."""

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from .conftest import PASSWORD, sign_in

pytestmark = pytest.mark.e2e


def test_a_manager_disables_a_users_mailing_and_blocks_the_user(
    new_page: Callable[[], Page], user, manager, make_mailing
):
    mailing = make_mailing(user, recipients=2, subject="Flash sale")

    boss = new_page()
    sign_in(boss, manager.email, PASSWORD)
    expect(boss.get_by_role("heading", level=1)).to_have_text("All campaigns")
    boss.get_by_role("link", name="Mailings").click()
    listed = boss.locator("tr", has=boss.get_by_role("link", name=f"#{mailing.pk}", exact=True))
    expect(listed).to_contain_text(user.email)
    expect(listed.get_by_role("button")).to_have_count(0)
    expect(listed.get_by_role("link", name="Edit")).to_have_count(0)
    listed.get_by_role("link", name=f"#{mailing.pk}", exact=True).click()

    expect(boss.get_by_role("heading", level=1)).to_contain_text(f"Mailing #{mailing.pk}")
    expect(boss.get_by_role("main")).to_contain_text(f"owner {user.email}")
    actions = boss.get_by_test_id("mailing-actions")
    expect(actions.get_by_role("button")).to_have_count(0)
    expect(actions.get_by_role("link")).to_have_text(["Disable mailing…"])

    # Disable asks first, on a page that says what it does, and Enable takes it back.
    boss.get_by_role("link", name="Disable mailing…").click()
    expect(boss.get_by_test_id("confirm-action")).to_contain_text("Its schedule is kept")
    boss.get_by_test_id("confirm").click()
    expect(boss.get_by_test_id("messages")).to_contain_text(f"Mailing #{mailing.pk} disabled")
    expect(boss.get_by_test_id("mailing-status")).to_have_text("Disabled")
    expect(boss.get_by_text("Disabled by a manager")).to_be_visible()
    expect(boss.get_by_test_id("mailing-actions").get_by_role("button")).to_have_count(0)
    expect(boss.get_by_test_id("enable")).to_be_visible()

    boss.get_by_role("link", name="Users").click()
    row = boss.get_by_test_id("user-table").locator(f'tr[data-email="{user.email}"]')
    expect(row).to_contain_text("Active")
    row.get_by_role("link", name="Block…").click()
    expect(boss.get_by_test_id("confirm-action")).to_contain_text("held as it is")
    boss.get_by_test_id("confirm").click()
    expect(boss.get_by_test_id("messages")).to_contain_text(f"{user.email} is blocked")
    expect(row).to_contain_text("Blocked")
    expect(row.get_by_role("link", name="Unblock…")).to_be_visible()

    owner = new_page()
    sign_in(owner, user.email, PASSWORD)
    expect(owner.get_by_test_id("blocked-banner")).to_contain_text("Your account is blocked.")
    expect(owner.get_by_role("link", name="New mailing")).to_have_count(0)
    owner.get_by_role("link", name="Mailings").click()
    owner.get_by_role("link", name=f"#{mailing.pk}", exact=True).click()
    expect(owner.get_by_test_id("mailing-status")).to_have_text("Disabled")
    expect(owner.get_by_test_id("mailing-actions").get_by_role("button")).to_have_count(0)
    expect(owner.get_by_test_id("mailing-actions").get_by_role("link")).to_have_count(0)
