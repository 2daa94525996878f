import django.db.models.deletion
from django.db import migrations, models


def move_counts_out(apps, schema_editor):
    """Each post's count moves to a row of its own (posts never read get none)."""
    BlogPage = apps.get_model("blog", "BlogPage")
    BlogPageViewCount = apps.get_model("blog", "BlogPageViewCount")
    BlogPageViewCount.objects.bulk_create(
        BlogPageViewCount(page_id=pk, views=views)
        for pk, views in BlogPage.objects.filter(view_count__gt=0).values_list("pk", "view_count")
    )


def move_counts_back(apps, schema_editor):
    BlogPage = apps.get_model("blog", "BlogPage")
    BlogPageViewCount = apps.get_model("blog", "BlogPageViewCount")
    for pk, views in BlogPageViewCount.objects.values_list("page_id", "views"):
        BlogPage.objects.filter(pk=pk).update(view_count=views)


class Migration(migrations.Migration):
    dependencies = [
        ("blog", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="BlogPageViewCount",
            fields=[
                (
                    "page",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="view_counter",
                        serialize=False,
                        to="blog.blogpage",
                    ),
                ),
                ("views", models.PositiveBigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(move_counts_out, move_counts_back),
        migrations.RemoveField(
            model_name="blogpage",
            name="view_count",
        ),
    ]
