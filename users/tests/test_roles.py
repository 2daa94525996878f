"""The role groups as `migrate` leaves them: only the site's roles reach /admin/, Publishers
review what Bloggers submit, and the data migration keeps working as the models grow."""

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse
from wagtail.models import GroupApprovalTask, GroupCollectionPermission, GroupPagePermission

from users.groups import BLOGGERS, MANAGERS, PUBLISHERS, REVIEW, WAGTAIL_DEFAULT_GROUPS

BASE_DIR = Path(__file__).resolve().parents[2]

# What a database's groups look like, printed as JSON (used on the test database and on a
# database migrated in a subprocess).
DESCRIBE_GROUPS = """
from django.contrib.auth.models import Group
from django.core.management import call_command
from wagtail.models import GroupApprovalTask, Workflow

def describe():
    groups = {
        group.name: {
            "permissions": sorted(
                f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()
            ),
            "page_permissions": group.page_permissions.count(),
            "collection_permissions": sorted(
                p.permission.codename for p in group.collection_permissions.all()
            ),
        }
        for group in Group.objects.order_by("name")
    }
    reviews = {
        task.name: sorted(task.groups.values_list("name", flat=True))
        for task in GroupApprovalTask.objects.all()
    }
    workflows = sorted(Workflow.objects.values_list("name", flat=True))
    return {"groups": groups, "reviews": reviews, "workflows": workflows}
"""


def describe_groups() -> dict:
    namespace: dict = {}
    exec(DESCRIBE_GROUPS, namespace)  # noqa: S102 - our own constant, shared with the subprocess
    return namespace["describe"]()


@pytest.mark.django_db
def test_migrate_leaves_the_roles_with_their_permissions_and_wagtails_groups_with_none():
    state = describe_groups()
    groups = state["groups"]

    assert "mailing.view_all_campaigns" in groups[MANAGERS]["permissions"]
    assert "users.block_user" in groups[MANAGERS]["permissions"]
    for role in (BLOGGERS, PUBLISHERS):
        assert "wagtailadmin.access_admin" in groups[role]["permissions"]
        assert {"add_image", "change_image", "choose_image"} <= set(
            groups[role]["collection_permissions"]
        )
    for default in WAGTAIL_DEFAULT_GROUPS:
        assert groups[default] == {
            "permissions": [],
            "page_permissions": 0,
            "collection_permissions": [],
        }
    assert state["reviews"] == {REVIEW: [PUBLISHERS]}
    assert state["workflows"] == [REVIEW]


@pytest.mark.django_db
@pytest.mark.parametrize("default_group", WAGTAIL_DEFAULT_GROUPS)
def test_members_of_wagtails_default_groups_cannot_open_the_admin(
    make_user, client_for, default_group
):
    member = make_user("old.editor@example.com")
    member.groups.add(Group.objects.get(name=default_group))

    response = client_for(member).get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not GroupPagePermission.objects.filter(group__name=default_group).exists()
    assert not GroupCollectionPermission.objects.filter(group__name=default_group).exists()


@pytest.mark.django_db
def test_the_review_task_stays_with_publishers_when_groups_are_synced_again():
    call_command("create_groups", stdout=io.StringIO())

    assert [
        list(task.groups.values_list("name", flat=True)) for task in GroupApprovalTask.objects.all()
    ] == [[PUBLISHERS]]


# A blog migration written after users/0002 that adds a field to BlogIndexPage: the situation
# every future model change puts a fresh `migrate` in.
FUTURE_MIGRATION = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("blog", "{last}"), ("users", "0002_create_groups")]
    operations = [
        migrations.AddField(
            "blogindexpage", "subtitle", models.CharField(max_length=80, default="")
        ),
    ]
"""

MIGRATE_WITH_THE_FUTURE_FIELD = (
    """
import json, sys
import django
from django.conf import settings
settings.MIGRATION_MODULES = {"blog": "future_blog_migrations"}
django.setup()
from django.core.management import call_command
from django.db import models
from blog.models import BlogIndexPage
# The current model already has the field that only the later migration adds.
BlogIndexPage.add_to_class("subtitle", models.CharField(max_length=80, default=""))
call_command("migrate", verbosity=0)
"""
    + DESCRIBE_GROUPS
    + """
print(json.dumps(describe()))
"""
)


@pytest.mark.django_db
def test_a_fresh_migrate_gives_the_same_groups_after_a_later_model_change(tmp_path):
    migrations = tmp_path / "future_blog_migrations"
    shutil.copytree(BASE_DIR / "blog" / "migrations", migrations)
    names = sorted(p.stem for p in migrations.glob("0*.py"))
    (migrations / "0999_future_field.py").write_text(FUTURE_MIGRATION.format(last=names[-1]))

    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MIGRATE_WITH_THE_FUTURE_FIELD)],
        cwd=BASE_DIR,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": f"{tmp_path}{os.pathsep}{BASE_DIR}",
            "DJANGO_SETTINGS_MODULE": "site_project.settings.dev",
            "DOTENV_PATH": "",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
            "VAR_DIR": str(tmp_path / "var"),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    fresh = json.loads(result.stdout.strip().splitlines()[-1])
    assert fresh == describe_groups()
