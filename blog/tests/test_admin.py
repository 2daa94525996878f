"""Writing the blog in Wagtail's admin: who may write, who may publish, who may enter."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from wagtail.test.utils.form_data import inline_formset, nested_form_data, rich_text, streamfield

from blog.models import BlogIndexPage, BlogPage
from blog.tests.factories import blog_index, cover_image, make_post
from home.models import HomePage
from users.groups import BLOGGERS, PUBLISHERS, REVIEW


@pytest.fixture
def index(db) -> BlogIndexPage:
    """A blog index, created as on a live site: its page permissions come with it."""
    return blog_index()


@pytest.fixture
def blogger(make_user, index):
    user = make_user("blogger@example.com")
    user.groups.add(Group.objects.get(name=BLOGGERS))
    return user


@pytest.fixture
def publisher(make_user, index):
    user = make_user("publisher@example.com")
    user.groups.add(Group.objects.get(name=PUBLISHERS))
    return user


def add_url(parent) -> str:
    return reverse("wagtailadmin_pages:add", args=("blog", "blogpage", parent.pk))


def post_form(title: str, *, action: str = "action-publish", cover=None) -> dict:
    """What the editor's browser sends for a new post, body blocks included."""
    return nested_form_data(
        {
            "title": title,
            "slug": title.lower().replace(" ", "-"),
            "date_published": "2026-03-14",
            "intro": "Written in the admin.",
            "cover_image": cover.pk if cover else "",
            "body": streamfield(
                [
                    ("paragraph", rich_text("<p>Hello from the <b>admin</b>.</p>")),
                    ("quote", {"text": "Quotable.", "attribution": "Someone"}),
                ]
            ),
            "comments": inline_formset([]),
            action: action,
        }
    )


def assert_saved(response, title: str) -> BlogPage:
    if response.status_code != 302:
        pytest.fail(f"the admin refused the form: {response.context['form'].errors}")
    return BlogPage.objects.get(title=title)


@pytest.mark.django_db
def test_a_blogger_can_write_a_post_but_not_publish_it(blogger, index, client_for, client):
    response = client_for(blogger).post(add_url(index), post_form("Draft by blogger"))

    post = assert_saved(response, "Draft by blogger")
    assert post.get_parent().specific == index
    assert not post.live
    assert post.latest_revision is not None
    assert post.owner == blogger
    latest = post.get_latest_revision_as_object()
    assert [block.block_type for block in latest.body] == ["paragraph", "quote"]
    assert "<b>admin</b>" in str(latest.body[0].value)
    assert client.get("/blog/draft-by-blogger/").status_code == 404


@pytest.mark.django_db
def test_a_blogger_cannot_publish_changes_to_a_live_post(blogger, index, client_for, client):
    live = make_post("Already live", index=index)
    edit = reverse("wagtailadmin_pages:edit", args=[live.pk])
    data = post_form("Already live, changed")
    data["slug"] = live.slug

    response = client_for(blogger).post(edit, data)

    assert response.status_code == 302
    live.refresh_from_db()
    assert live.title == "Already live"
    assert live.has_unpublished_changes
    assert "Already live, changed" not in client.get(live.url).content.decode()


@pytest.mark.django_db
def test_a_publisher_can_publish(publisher, index, client_for, client):
    cover = cover_image()

    response = client_for(publisher).post(add_url(index), post_form("Published post", cover=cover))

    post = assert_saved(response, "Published post")
    assert post.live
    assert post.cover_image == cover
    page = client.get(post.url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Hello from the <b>admin</b>." in html
    assert "Quotable." in html


@pytest.mark.django_db
def test_bloggers_cannot_add_pages_outside_the_blog(blogger, index, client_for):
    home = HomePage.objects.get()
    url = reverse("wagtailadmin_pages:add", args=("blog", "blogindexpage", home.pk))

    response = client_for(blogger).post(url, {"title": "Second blog", "slug": "blog-2"})

    assert response.status_code == 302
    assert response["Location"] == reverse("wagtailadmin_home")
    assert not BlogIndexPage.objects.filter(slug="blog-2").exists()


@pytest.mark.django_db
def test_an_ordinary_user_cannot_open_the_admin(user, client_for):
    response = client_for(user).get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.django_db
def test_a_manager_can_open_the_admin(manager, client_for):
    response = client_for(manager).get("/admin/")

    assert response.status_code == 200
    assert "wagtailadmin/home.html" in {t.name for t in response.templates}


@pytest.mark.django_db
@pytest.mark.parametrize("member", ["blogger", "publisher"])
def test_blog_writers_can_open_the_admin(request, member, client_for):
    assert client_for(request.getfixturevalue(member)).get("/admin/").status_code == 200


@pytest.mark.django_db
def test_a_blog_an_administrator_creates_is_writable_at_once(make_user, client_for):
    """No seed_demo, no create_groups: a site that was migrated, then given its blog."""
    admin = make_user("admin@example.com", is_staff=True, is_superuser=True)
    home = HomePage.objects.get()
    url = reverse("wagtailadmin_pages:add", args=("blog", "blogindexpage", home.pk))
    created = client_for(admin).post(
        url,
        nested_form_data(
            {
                "title": "News",
                "slug": "news",
                "intro": rich_text("<p>What is new.</p>"),
                "comments": inline_formset([]),
                "action-publish": "action-publish",
            }
        ),
    )
    assert created.status_code == 302
    news = BlogIndexPage.objects.get(slug="news")
    blogger = make_user("blogger@example.com")
    blogger.groups.add(Group.objects.get(name=BLOGGERS))
    publisher = make_user("publisher@example.com")
    publisher.groups.add(Group.objects.get(name=PUBLISHERS))

    drafted = client_for(blogger).post(
        add_url(news), post_form("First news", action="action-submit")
    )
    published = client_for(publisher).post(add_url(news), post_form("Second news"))

    assert not assert_saved(drafted, "First news").live
    assert assert_saved(published, "Second news").live


@pytest.mark.django_db
def test_a_post_a_blogger_submits_reaches_a_publisher_who_approves_it(
    blogger, publisher, index, client_for
):
    submitted = client_for(blogger).post(
        add_url(index), post_form("Ready for review", action="action-submit")
    )
    post = assert_saved(submitted, "Ready for review")
    assert not post.live
    state = post.current_workflow_state
    assert state is not None
    assert state.current_task_state.task.name == REVIEW
    reviewer = client_for(publisher)

    dashboard = reviewer.get(reverse("wagtailadmin_home")).content.decode()

    assert "Awaiting your review" in dashboard
    assert "Ready for review" in dashboard
    approved = reviewer.post(
        reverse(
            "wagtailadmin_pages:workflow_action",
            args=(post.pk, "approve", state.current_task_state.pk),
        ),
        {"comment": "Good to go."},
    )
    assert approved.status_code == 302
    post.refresh_from_db()
    assert post.live
    assert Client().get(post.url).status_code == 200
