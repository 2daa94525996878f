"""Blog content for tests, made the way editors make it: pages added under the tree and
published through revisions (so Wagtail's signals fire)."""

import io
from datetime import date, timedelta

from django.core.files.images import ImageFile
from django.utils import timezone
from PIL import Image as PILImage
from wagtail.images import get_image_model

from blog.models import BlogIndexPage, BlogPage
from home.models import HomePage


def blog_index() -> BlogIndexPage:
    """The live blog index under the home page (created on first use)."""
    home = HomePage.objects.get()
    index = BlogIndexPage.objects.child_of(home).first()
    if index is None:
        index = BlogIndexPage(title="Blog", slug="blog", intro="<p>Notes from the team.</p>")
        home.add_child(instance=index)
        index.save_revision().publish()
    return index


def cover_image(title: str = "Cover"):
    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 36), (30, 120, 200)).save(buffer, format="PNG")
    image = get_image_model()(title=title)
    image.file = ImageFile(buffer, name="cover.png")
    image.save()
    return image


def make_post(
    title: str,
    *,
    index: BlogIndexPage | None = None,
    published: date | None = None,
    live: bool = True,
    intro: str = "A short introduction.",
    body: list | None = None,
    cover=None,
) -> BlogPage:
    index = index or blog_index()
    post = BlogPage(
        title=title,
        slug=title.lower().replace(" ", "-"),
        intro=intro,
        date_published=published or timezone.localdate(),
        body=body if body is not None else [{"type": "paragraph", "value": f"<p>{title}.</p>"}],
        cover_image=cover,
        live=False,
    )
    index.add_child(instance=post)
    revision = post.save_revision()
    if live:
        revision.publish()
    return BlogPage.objects.get(pk=post.pk)


def make_posts(count: int, *, index: BlogIndexPage | None = None) -> list[BlogPage]:
    """`count` live posts, "Post 1" the oldest, one day apart."""
    today = timezone.localdate()
    return [
        make_post(f"Post {n}", index=index, published=today - timedelta(days=count - n))
        for n in range(1, count + 1)
    ]
