"""The site's roles as auth groups: who is in which group, and what each group holds. (What a
role may do on the dashboard is the rule in `core.roles`.)

Where the groups get what they hold:
* the data migration users/0002 creates the three groups (historical models only, so it keeps
  working on a fresh database whatever the models become);
* `sync_groups()` gives them their permissions from the current models: after every complete
  `migrate` (`sync_groups_after_migrate`, wired in users.signals) and on
  `manage.py create_groups`;
* `grant_blog_permissions()` gives a blog index its page permissions the moment it is created
  (blog.signals), so a blog an administrator adds on a live site is writable at once.
"""

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

MANAGERS = "Managers"
BLOGGERS = "Bloggers"
PUBLISHERS = "Publishers"

# Wagtail's initial data: groups with admin access and permissions on the whole page tree,
# and a "Moderators approval" workflow on the root page that names the Moderators group.
WAGTAIL_DEFAULT_GROUPS = ("Editors", "Moderators")
WAGTAIL_DEFAULT_REVIEW = "Moderators approval"
# What that workflow and its task are called once Publishers review. Not "Publishers …":
# Wagtail's button would read "Submit to Publishers …", and a search for the "Publish" button
# by its name (a person reading, or a browser test) would find two.
REVIEW = "Editorial review"

# app_label.codename for each group's model permissions.
_MODEL_PERMISSIONS = {
    MANAGERS: [
        "wagtailadmin.access_admin",
        "mailing.view_all_campaigns",
        "mailing.disable_mailing",
        "mailing.view_recipient",
        "mailing.view_message",
        "mailing.view_mailing",
        "mailing.view_attempt",
        "users.view_user",
        "users.block_user",
    ],
    BLOGGERS: [
        "wagtailadmin.access_admin",
        "wagtailimages.add_image",
        "wagtailimages.change_image",
        "wagtailimages.choose_image",
    ],
    PUBLISHERS: [
        "wagtailadmin.access_admin",
        "wagtailimages.add_image",
        "wagtailimages.change_image",
        "wagtailimages.choose_image",
    ],
}
# Wagtail page permissions each group holds on every blog index (and so on its posts).
_BLOG_PAGE_PERMISSIONS = {
    BLOGGERS: ["add_page", "change_page"],
    PUBLISHERS: ["add_page", "change_page", "publish_page", "lock_page", "unlock_page"],
}
# Collection permissions apply to the root collection and everything under it.
_COLLECTION_PERMISSIONS = {
    BLOGGERS: ["add_image", "change_image", "choose_image"],
    PUBLISHERS: ["add_image", "change_image", "choose_image"],
}


def _permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def sync_groups() -> dict[str, Group]:
    """Create or update the role groups, make Publishers the reviewers of Wagtail's default
    workflow and leave Wagtail's default groups without permissions; idempotent."""
    from wagtail.models import Collection, GroupCollectionPermission

    from blog.models import BlogIndexPage

    groups = {}
    for name, dotted_names in _MODEL_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set([_permission(dotted) for dotted in dotted_names])
        groups[name] = group

    root_collection = Collection.get_first_root_node()
    if root_collection is not None:
        for name, codenames in _COLLECTION_PERMISSIONS.items():
            for codename in codenames:
                GroupCollectionPermission.objects.get_or_create(
                    group=groups[name],
                    collection=root_collection,
                    permission=_permission(f"wagtailimages.{codename}"),
                )

    for index in BlogIndexPage.objects.all():
        grant_blog_permissions(index=index)
    _make_publishers_review(groups[PUBLISHERS])
    _strip_wagtail_default_groups()
    return groups


def grant_blog_permissions(*, index) -> None:
    """Let Bloggers write and Publishers publish under this blog index (and so its posts)."""
    from wagtail.models import GroupPagePermission

    for name, codenames in _BLOG_PAGE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for codename in codenames:
            GroupPagePermission.objects.get_or_create(
                group=group, page=index, permission=_permission(f"wagtailcore.{codename}")
            )


def _make_publishers_review(publishers: Group) -> None:
    """A blogger's "Submit for moderation" goes to Wagtail's default workflow (on the root page),
    whose task names the Moderators group, which nobody is in: hand it to Publishers."""
    from wagtail.models import GroupApprovalTask, Workflow

    for task in GroupApprovalTask.objects.filter(name__in=[WAGTAIL_DEFAULT_REVIEW, REVIEW]):
        task.groups.set([publishers])
        if task.name != REVIEW:
            task.name = REVIEW
            task.save(update_fields=["name"])
    Workflow.objects.filter(name=WAGTAIL_DEFAULT_REVIEW).update(name=REVIEW)


def _strip_wagtail_default_groups() -> None:
    """Wagtail's Editors and Moderators keep admin access and rights over the whole page tree;
    only the site's roles should reach /admin/."""
    from wagtail.models import GroupCollectionPermission, GroupPagePermission

    for group in Group.objects.filter(name__in=WAGTAIL_DEFAULT_GROUPS):
        group.permissions.clear()
        GroupPagePermission.objects.filter(group=group).delete()
        GroupCollectionPermission.objects.filter(group=group).delete()


def sync_groups_after_migrate(*, using: str) -> None:
    """Bring the groups in line with the current models once the database is fully migrated.

    Skipped after a partial `migrate app target`, where the current models may be ahead of
    the tables. Permissions of apps whose own post_migrate turn has not come yet are created
    first (Django does that app by app)."""
    if using != DEFAULT_DB_ALIAS:
        return
    executor = MigrationExecutor(connections[using])
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    sync_groups()
