from django.db import migrations

# Frozen here, not imported from users.groups: a migration must not change with the code.
ROLE_GROUPS = ["Managers", "Bloggers", "Publishers"]


def create_groups(apps, schema_editor):
    """Create the role groups, so that they exist from the first migrate on.

    Historical models only: this runs on every fresh database, before migrations written later,
    so it must not touch the current models (a field added to BlogIndexPage or Collection later
    would make their queries fail here). The groups get their permissions, which need every
    app's current models, once the whole migrate is done: users.groups.sync_groups_after_migrate
    (a post_migrate receiver in users.signals).
    """
    Group = apps.get_model("auth", "Group")
    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)


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
