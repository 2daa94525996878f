"""`manage.py create_groups` puts the role groups back as the site needs them."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from core.roles import is_manager
from users.groups import BLOGGERS, MANAGERS, PUBLISHERS
from users.models import User

pytestmark = pytest.mark.django_db

MANAGERS_CAN = {
    "wagtailadmin.access_admin",
    "mailing.view_all_campaigns",
    "mailing.disable_mailing",
    "mailing.view_recipient",
    "mailing.view_message",
    "mailing.view_mailing",
    "mailing.view_attempt",
    "users.view_user",
    "users.block_user",
}


def permissions_of(group: Group) -> set[str]:
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def create_groups() -> str:
    out = StringIO()
    call_command("create_groups", stdout=out)
    return out.getvalue()


def test_a_deleted_managers_group_comes_back_with_its_permissions(make_user):
    Group.objects.filter(name=MANAGERS).delete()
    boss = make_user("boss@example.com")

    output = create_groups()

    managers = Group.objects.get(name=MANAGERS)
    assert permissions_of(managers) == MANAGERS_CAN
    assert "Groups are in sync." in output
    boss.groups.add(managers)
    boss = User.objects.get(pk=boss.pk)  # no permission cache from before
    assert is_manager(boss)
    assert boss.has_perm("mailing.disable_mailing") and boss.has_perm("users.block_user")


def test_a_permission_taken_from_a_group_is_given_back_and_one_added_is_taken_away():
    managers = Group.objects.get(name=MANAGERS)
    managers.permissions.remove(Permission.objects.get(codename="block_user"))
    managers.permissions.add(Permission.objects.get(codename="delete_mailing"))

    create_groups()
    create_groups()  # idempotent

    assert permissions_of(Group.objects.get(name=MANAGERS)) == MANAGERS_CAN
    for name in (MANAGERS, BLOGGERS, PUBLISHERS):
        assert Group.objects.filter(name=name).count() == 1, name
