from django.db import migrations


def create_groups(apps, schema_editor):
    """Create the Managers, Bloggers and Publishers groups so they always exist.

    Permissions are normally created after `migrate` finishes; create them now (from the
    current models, the usual way for permission data migrations) so the groups can hold them.
    """
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, apps=global_apps, verbosity=0)

    from users.roles import sync_groups

    sync_groups()


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0001_initial"),
        ("mailing", "0002_initial"),
        ("blog", "0001_initial"),
        ("home", "0002_create_homepage"),
        ("wagtailadmin", "0006_formstate"),
        ("wagtailimages", "0027_image_description"),
        ("wagtailcore", "0098_apitoken"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
