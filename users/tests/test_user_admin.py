"""The manager's user list: who is there, block and unblock."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from conftest import PASSWORD
from mailing import delivery
from mailing.models import Attempt, Delivery, Mailing
from users import services
from users.models import User

pytestmark = pytest.mark.django_db


def flash(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_list_shows_every_account_with_its_mailing_count(
    user, other_user, manager, client_for, make_mailing
):
    make_mailing(user, recipients=1)
    make_mailing(user, recipients=1)

    page = client_for(manager).get(reverse("users:user_list")).context["page_obj"]

    counts = {account.email: account.mailing_count for account in page.object_list}
    assert counts == {"alice@example.com": 2, "bob@example.com": 0, "manager@example.com": 0}


def test_the_list_can_be_searched_and_filtered(user, other_user, manager, client_for):
    User.objects.filter(pk=other_user.pk).update(is_blocked=True)
    client = client_for(manager)

    def emails(**query) -> set[str]:
        page = client.get(reverse("users:user_list"), query).context["page_obj"]
        return {account.email for account in page.object_list}

    assert emails(q="alice") == {"alice@example.com"}
    assert emails(q="Bob") == {"bob@example.com"}  # first name
    assert emails(blocked="yes") == {"bob@example.com"}
    assert "bob@example.com" not in emails(blocked="no")


def test_blocking_holds_the_users_queue_and_unblocking_restores_the_account(
    user, manager, client_for, make_mailing
):
    mailing = make_mailing(user, recipients=3)
    delivery.start_run(mailing=mailing)
    boss = client_for(manager)

    blocked = boss.post(reverse("users:user_block", args=[user.pk]), follow=True)

    assert flash(blocked) == [
        "alice@example.com is blocked; their mailings are held until unblocked."
    ]
    user.refresh_from_db()
    assert user.is_blocked and user.blocked_by == manager and user.blocked_at
    # Held as it was: every recipient still waiting, nothing recorded as failed.
    assert Delivery.objects.filter(run__mailing=mailing, state="pending").count() == 3
    assert not Attempt.objects.filter(mailing=mailing).exists()
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.LAUNCHED

    unblocked = boss.post(reverse("users:user_unblock", args=[user.pk]), follow=True)
    assert flash(unblocked) == ["alice@example.com is unblocked; their mailings go on."]
    user.refresh_from_db()
    assert not user.is_blocked and user.blocked_by is None


def test_a_blocked_user_can_still_sign_in_and_sees_why_they_cannot_act(user, manager, client_for):
    client_for(manager).post(reverse("users:user_block", args=[user.pk]))
    client = Client()

    response = client.post(
        reverse("account_login"), {"login": user.email, "password": PASSWORD}, follow=True
    )

    assert response.status_code == 200
    assert response.context["user"].is_authenticated
    assert "Your account is blocked." in response.content.decode()
    assert "New mailing" not in client.get(reverse("mailing:dashboard")).content.decode()


@pytest.mark.parametrize(
    ("target", "refusal"),
    [
        ("self", "You cannot block or unblock your own account."),
        ("staff", "Staff accounts cannot be blocked here."),
    ],
)
def test_a_manager_cannot_block_themselves_or_staff(
    manager, make_user, client_for, target, refusal
):
    victim = manager if target == "self" else make_user("admin@example.com", is_staff=True)
    client = client_for(manager)

    # No button is offered for them; a forged POST is refused like every write the rule forbids.
    row = (
        client.get(reverse("users:user_list"))
        .content.decode()
        .split(f'data-email="{victim.email}"', 1)[1]
        .split("</tr>", 1)[0]
    )
    assert "<button" not in row
    response = client.post(reverse("users:user_block", args=[victim.pk]))

    victim.refresh_from_db()
    assert not victim.is_blocked
    assert response.status_code == 403
    assert refusal in response.content.decode()


# --- A blocked manager -------------------------------------------------------------------------


@pytest.fixture
def blocked_manager(make_user, manager) -> User:
    """A manager whom another manager has blocked."""
    boss = make_user("blocked-boss@example.com", manager=True)
    services.user_block(actor=manager, user=boss)
    boss.refresh_from_db()
    return boss


def test_a_blocked_manager_can_still_read_everything(
    blocked_manager, user, client_for, make_mailing
):
    mailing = make_mailing(user, recipients=1)
    client = client_for(blocked_manager)

    assert client.get(reverse("users:user_list")).status_code == 200
    detail = client.get(reverse("mailing:mailing_detail", args=[mailing.pk]))
    assert detail.status_code == 200 and user.email in detail.content.decode()


@pytest.mark.parametrize(("viewer", "offered"), [("manager", True), ("blocked_manager", False)])
def test_only_a_manager_who_is_not_blocked_is_offered_the_managers_actions(
    request, blocked_manager, user, other_user, client_for, make_mailing, viewer, offered
):
    User.objects.filter(pk=other_user.pk).update(is_blocked=True)
    mailing = make_mailing(user, recipients=1)
    client = client_for(request.getfixturevalue(viewer))

    users_page = client.get(reverse("users:user_list")).content.decode()
    detail = client.get(reverse("mailing:mailing_detail", args=[mailing.pk])).content.decode()

    for url in (
        reverse("users:user_block", args=[user.pk]),
        reverse("users:user_unblock", args=[other_user.pk]),
        reverse("mailing:mailing_disable", args=[mailing.pk]),
    ):
        assert (url in users_page + detail) is offered, url
    # Nobody is offered to unblock themselves.
    assert reverse("users:user_unblock", args=[blocked_manager.pk]) not in (
        client_for(blocked_manager).get(reverse("users:user_list")).content.decode()
    )


@pytest.mark.parametrize("action", ["block", "unblock", "unblock themselves", "disable"])
def test_a_blocked_manager_is_refused_every_managers_action(
    blocked_manager, user, other_user, client_for, make_mailing, action
):
    User.objects.filter(pk=other_user.pk).update(is_blocked=True)
    mailing = make_mailing(user, recipients=1)
    url = {
        "block": reverse("users:user_block", args=[user.pk]),
        "unblock": reverse("users:user_unblock", args=[other_user.pk]),
        "unblock themselves": reverse("users:user_unblock", args=[blocked_manager.pk]),
        "disable": reverse("mailing:mailing_disable", args=[mailing.pk]),
    }[action]

    response = client_for(blocked_manager).post(url)

    assert response.status_code == 403
    assert "Your account is blocked" in response.content.decode()
    states = dict(User.objects.values_list("email", "is_blocked"))
    assert states[user.email] is False
    assert states[other_user.email] is True
    assert states[blocked_manager.email] is True
    mailing.refresh_from_db()
    assert not mailing.is_disabled


def test_the_block_services_apply_the_same_rule(blocked_manager, manager, user):
    # Every caller goes through the rule, not only the web pages.
    with pytest.raises(PermissionDenied):
        services.user_block(actor=blocked_manager, user=user)
    with pytest.raises(PermissionDenied):
        services.user_unblock(actor=blocked_manager, user=blocked_manager)
    with pytest.raises(PermissionDenied):
        services.user_unblock(actor=manager, user=manager)
    user.refresh_from_db()
    blocked_manager.refresh_from_db()
    assert not user.is_blocked and blocked_manager.is_blocked


def test_once_unblocked_a_manager_may_act_again(blocked_manager, manager, user, client_for):
    client_for(manager).post(reverse("users:user_unblock", args=[blocked_manager.pk]))

    response = client_for(blocked_manager).post(reverse("users:user_block", args=[user.pk]))

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.is_blocked


def test_users_cannot_block_anyone(user, other_user, client_for):
    response = client_for(user).post(reverse("users:user_block", args=[other_user.pk]))
    assert response.status_code == 403
    other_user.refresh_from_db()
    assert not other_user.is_blocked


def test_a_get_of_block_only_asks_for_confirmation(user, manager, client_for):
    response = client_for(manager).get(reverse("users:user_block", args=[user.pk]))
    assert response.status_code == 200
    assert response.templates[0].name == "confirm_action.html"
    user.refresh_from_db()
    assert not user.is_blocked


def test_a_users_mailing_count_links_to_their_mailings(
    user, other_user, manager, client_for, make_mailing
):
    mine = make_mailing(user, recipients=1, subject="Alice's news")
    make_mailing(other_user, recipients=1, subject="Bob's news")
    client = client_for(manager)

    users_page = client.get(reverse("users:user_list")).content.decode()
    link = f"{reverse('mailing:mailing_list')}?owner={user.pk}"
    assert f'href="{link}">1</a>' in users_page

    page = client.get(link).context["page_obj"]
    assert [m.pk for m in page.object_list] == [mine.pk]
    # The same link in a user's hands filters their own mailings: nothing of Alice's shows.
    assert not client_for(other_user).get(link).context["page_obj"].object_list


def test_a_blocked_user_cannot_be_unblocked_by_a_user(user, other_user, client_for):
    User.objects.filter(pk=other_user.pk).update(is_blocked=True)

    response = client_for(user).post(reverse("users:user_unblock", args=[other_user.pk]))

    assert response.status_code == 403
    other_user.refresh_from_db()
    assert other_user.is_blocked
