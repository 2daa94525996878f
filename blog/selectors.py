"""Reads for the public blog."""

import random

from django.conf import settings
from django.core.cache import cache
from wagtail.models import Page

from .models import BlogIndexPage, BlogPage, BlogPageViewCount

LIVE_POST_IDS_KEY = "blog:live-post-ids"


def blog_index(*, home: Page) -> BlogIndexPage | None:
    """The live, public blog under the home page, if there is one."""
    return BlogIndexPage.objects.live().public().child_of(home).first()


def live_post_ids() -> list[int]:
    """Ids of every live, public post; cached and dropped whenever a post is (un)published."""
    return cache.get_or_set(
        LIVE_POST_IDS_KEY,
        lambda: list(BlogPage.objects.live().public().values_list("pk", flat=True)),
        settings.PUBLIC_CACHE_TTL,
    )


def forget_live_post_ids() -> None:
    cache.delete(LIVE_POST_IDS_KEY)


def random_posts(*, count: int = 3) -> list[BlogPage]:
    """Up to `count` live posts picked at random from the cached ids, never by ORDER BY RANDOM()
    over the whole table."""
    ids = live_post_ids()
    chosen = random.sample(ids, min(count, len(ids)))
    posts = (
        BlogPage.objects.live()
        .public()
        .filter(pk__in=chosen)
        .select_related("cover_image")
        .prefetch_related("cover_image__renditions")
    )
    by_id = {post.pk: post for post in posts}
    return [by_id[pk] for pk in chosen if pk in by_id]


def view_count(*, page: BlogPage) -> int:
    """How many times `page` was read (0 before its first reader)."""
    return BlogPageViewCount.objects.filter(page=page).values_list("views", flat=True).first() or 0
