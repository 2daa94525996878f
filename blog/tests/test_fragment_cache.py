"""Cached fragments of public pages (blog cards, a post's body, intros): never a picture that is
gone, and kept only as long as PUBLIC_CACHE_TTL says."""

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image as PILImage

from blog.models import BlogPage
from blog.tests.factories import blog_index, cover_image, make_post
from home.models import HomePage


def image_sources(html: str) -> list[str]:
    return re.findall(r'<img[^>]* src="([^"]+)"', html)


def served(client: Client, url: str) -> int:
    return client.get(url).status_code


def replace_file_in_the_admin(client: Client, image, capture_on_commit) -> None:
    """What an editor does on the image's edit page: upload another file for it. Wagtail then
    deletes the old file and every rendition made from it, once the change is committed."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (80, 45), (200, 60, 30)).save(buffer, format="PNG")
    with capture_on_commit(execute=True):
        response = client.post(
            reverse("wagtailimages:edit", args=[image.pk]),
            {
                "title": image.title,
                "file": SimpleUploadedFile("replacement.png", buffer.getvalue(), "image/png"),
                "tags": "",
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]


@pytest.fixture
def admin_client(make_user, client_for) -> Client:
    return client_for(make_user("admin@example.com", is_staff=True, is_superuser=True))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "where", ["card on the blog", "card on the home page", "cover of the post"]
)
def test_a_replaced_cover_image_never_leaves_a_dead_picture(
    client, admin_client, django_capture_on_commit_callbacks, where
):
    cover = cover_image("Harbour")
    post = make_post("With a cover", cover=cover)
    url = {"card on the blog": blog_index().url, "card on the home page": "/"}.get(where, post.url)
    [before] = image_sources(client.get(url).content.decode())
    assert served(client, before) == 200

    replace_file_in_the_admin(admin_client, cover, django_capture_on_commit_callbacks)

    [after] = image_sources(Client().get(url).content.decode())
    assert after != before
    assert served(client, before) == 404  # Wagtail deleted the old rendition
    assert served(client, after) == 200


@pytest.mark.django_db
def test_a_replaced_image_in_a_posts_body_never_leaves_a_dead_picture(
    client, admin_client, django_capture_on_commit_callbacks
):
    figure = cover_image("Chart")
    post = make_post(
        "With a figure",
        body=[{"type": "image", "value": {"image": figure.pk, "caption": "The chart."}}],
    )
    [before] = image_sources(client.get(post.url).content.decode())

    replace_file_in_the_admin(admin_client, figure, django_capture_on_commit_callbacks)

    [after] = image_sources(client.get(post.url).content.decode())
    assert after != before
    assert served(client, before) == 404
    assert served(client, after) == 200


@pytest.mark.django_db
def test_fragments_are_kept_for_public_cache_ttl(client, settings):
    settings.PUBLIC_CACHE_TTL = 0  # not kept at all
    post = make_post("Counting", intro="The original introduction.")
    home = HomePage.objects.get()
    client.get(post.url)
    client.get(blog_index().url)
    client.get("/")

    # Changed behind Wagtail's back (no publish, so the pages' cache keys stay the same).
    BlogPage.objects.filter(pk=post.pk).update(intro="Changed without publishing.")
    HomePage.objects.filter(pk=home.pk).update(intro="<p>A new welcome.</p>")

    assert "Changed without publishing." in client.get(post.url).content.decode()
    assert "Changed without publishing." in client.get(blog_index().url).content.decode()
    assert "A new welcome." in client.get("/").content.decode()
