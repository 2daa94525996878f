"""`manage.py seed_demo`: demo content that can be loaded again and again."""

import io
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from wagtail.images import get_image_model
from wagtail.models import Page, Revision, Site

from blog.models import BlogIndexPage, BlogPage
from home.management.commands.seed_demo import DEMO_ACCOUNTS
from home.models import HomePage
from mailing.models import Attempt, DailyStat, Mailing, Message, Recipient
from users.groups import BLOGGERS, MANAGERS, PUBLISHERS
from users.models import User

COUNTED = [
    Page,
    Revision,
    BlogPage,
    get_image_model(),
    User,
    EmailAddress,
    Mailing,
    Message,
    Recipient,
    Attempt,
    DailyStat,
]


def snapshot() -> dict[str, int]:
    counts = {model.__name__: model.objects.count() for model in COUNTED}
    counts["memberships"] = User.groups.through.objects.count()
    return counts


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def seeded(db) -> dict[str, int]:
    seed()
    return snapshot()


@pytest.mark.django_db
def test_running_it_twice_creates_nothing_new(seeded):
    output = seed()

    assert snapshot() == seeded
    assert "(0 new blog posts)" in output


@pytest.mark.django_db
def test_if_empty_does_nothing_once_the_demo_is_there(seeded):
    assert "already there" in seed("--if-empty")
    assert snapshot() == seeded


@pytest.mark.django_db
def test_the_blog_has_six_or_more_live_posts_with_cover_images(seeded, client):
    index = BlogIndexPage.objects.live().get()
    posts = BlogPage.objects.live().child_of(index)

    assert posts.count() >= 6
    assert all(post.cover_image is not None for post in posts)
    assert all(post.cover_image.file.size > 0 for post in posts)
    home = client.get("/")
    assert home.status_code == 200
    assert home.content.decode().count('data-testid="blog-card"') == 3
    assert client.get(index.url).status_code == 200
    assert client.get(posts.first().url).status_code == 200


@pytest.mark.django_db
def test_demo_accounts_can_sign_in(seeded):
    for email, password, _role, _first_name in DEMO_ACCOUNTS:
        client = Client()

        response = client.post(reverse("account_login"), {"login": email, "password": password})

        assert response.status_code == 302, email
        assert response["Location"] == reverse("mailing:dashboard")
        assert client.get(reverse("mailing:dashboard")).status_code == 200


@pytest.mark.django_db
def test_demo_roles(seeded):
    def groups(email: str) -> set[str]:
        return set(User.objects.get(email=email).groups.values_list("name", flat=True))

    assert groups("editor@example.com") == {BLOGGERS, PUBLISHERS}
    assert groups("manager@example.com") == {MANAGERS}
    assert groups("user@example.com") == set()
    assert [u.email for u in User.objects.filter(is_superuser=True)] == ["admin@example.com"]
    # The blog's page permissions exist, so the editor can publish under it.
    index = BlogIndexPage.objects.get()
    editor = User.objects.get(email="editor@example.com")
    assert index.permissions_for_user(editor).can_publish_subpage()
    bloggers: Any = Group.objects.get(name=BLOGGERS)  # page_permissions: Wagtail's relation
    assert bloggers.page_permissions.filter(page=index).exists()


@pytest.mark.django_db
def test_the_home_page_shows_the_demo_campaign(seeded, client):
    html = client.get("/").content.decode()

    # Two mailings each for the English and the Russian demo owner; 12 + 6 addresses.
    assert 'data-testid="total-mailings">4<' in html
    assert 'data-testid="total-recipients">18<' in html


@pytest.mark.django_db
def test_the_demo_has_russian_and_english_posts_and_campaigns(seeded, client):
    titles = set(BlogPage.objects.values_list("title", flat=True))
    assert "Writing a subject line people open" in titles
    assert "Тема письма, которое откроют" in titles
    ivan = User.objects.get(email="ivan@example.com")
    assert (ivan.language, ivan.time_zone) == ("ru", "Europe/Moscow")
    subjects = set(Message.objects.filter(owner=ivan).values_list("subject", flat=True))
    assert "Новости недели" in subjects
    assert Mailing.objects.filter(owner=ivan).count() == 2

    client.post(reverse("account_login"), {"login": ivan.email, "password": "demo-ivan-pass"})
    dashboard = client.get(reverse("mailing:dashboard")).content.decode()
    assert '<html lang="ru"' in dashboard
    assert "Ваши кампании" in dashboard


@pytest.mark.django_db
def test_the_demo_administrator_can_edit_the_home_pages_introduction(seeded):
    client = Client()
    assert (
        client.post(
            reverse("account_login"), {"login": "admin@example.com", "password": "demo-admin-pass"}
        ).status_code
        == 302
    )
    home = HomePage.objects.get()

    editor = client.get(reverse("wagtailadmin_pages:edit", args=[home.pk]))

    assert editor.status_code == 200
    assert 'name="intro"' in editor.content.decode()
    admin = User.objects.get(email="admin@example.com")
    assert home.permissions_for_user(admin).can_publish()
    # The demo editor writes the blog, not the home page.
    editor_account = User.objects.get(email="editor@example.com")
    assert not home.permissions_for_user(editor_account).can_edit()


@pytest.mark.django_db
def test_an_operators_site_settings_are_kept():
    Site.objects.filter(is_default_site=True).update(hostname="campaigns.example.com", port=443)

    seed()

    site = Site.objects.get(is_default_site=True)
    assert (site.hostname, site.port) == ("campaigns.example.com", 443)


@pytest.mark.django_db
def test_a_missing_site_is_created():
    Site.objects.all().delete()

    seed()

    site = Site.objects.get(is_default_site=True)
    assert (site.hostname, site.port, site.root_page.specific) == (
        "localhost",
        80,
        HomePage.objects.get(),
    )


@pytest.mark.django_db
def test_without_a_home_page_it_stops_with_a_command_error():
    HomePage.objects.get().delete()

    with pytest.raises(CommandError, match=r"run `manage\.py migrate` first"):
        seed()


def test_the_demo_mailings_latest_run_agrees_with_its_runs_and_report(seeded):
    """The demo's finished mailing showed "not started, 0 of 0" beside 156 attempts: its
    history was attempts without the runs and deliveries the engine records."""
    from mailing import selectors

    mailing = Mailing.objects.get(status=Mailing.Status.FINISHED, message__subject="Welcome aboard")
    attempts = Attempt.objects.filter(mailing=mailing)
    runs: list[Any] = selectors.recent_runs(mailing=mailing, limit=100)  # annotated rows
    progress = selectors.latest_run_progress(mailing=mailing)

    assert len(runs) == 13 and progress.run_id == runs[0].pk and not progress.running
    assert sum(run.total for run in runs) == attempts.count() > 0
    assert sum(run.sent for run in runs) == attempts.filter(status="success").count()
    latest = runs[0]
    assert (progress.sent, progress.failed + progress.cancelled, progress.total) == (
        latest.sent,
        latest.failed,
        latest.total,
    )
    assert progress.percent == 100
    assert attempts.filter(run__isnull=True).count() == 0
