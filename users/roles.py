"""The site's roles as auth groups, and the one test for "is this user a manager".

Groups are created by a data migration (so they always exist), re-synced by
`manage.py create_groups`, and `seed_demo` calls the same function after it creates the blog.
"""

from django.contrib.auth.models import Group, Permission

MANAGERS = "Managers"
BLOGGERS = "Bloggers"
PUBLISHERS = "Publishers"

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


def is_manager(user) -> bool:
    """Managers (and superusers) see every user's campaigns, read-only."""
    return bool(user and user.is_authenticated and user.has_perm("mailing.view_all_campaigns"))


def _permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def sync_groups() -> dict[str, Group]:
    """Create or update the role groups; idempotent."""
    from wagtail.models import Collection, GroupCollectionPermission, GroupPagePermission

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
        for name, codenames in _BLOG_PAGE_PERMISSIONS.items():
            for codename in codenames:
                GroupPagePermission.objects.get_or_create(
                    group=groups[name],
                    page=index,
                    permission=_permission(f"wagtailcore.{codename}"),
                )
    return groups
