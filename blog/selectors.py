"""Reads for the public blog."""

import random

from django.conf import settings
from django.core.cache import cache
from wagtail.models import Page

from .models import BlogIndexPage, BlogPage

LIVE_POST_IDS_KEY = "blog:live-post-ids"


def blog_index(*, home: Page) -> BlogIndexPage | None:
    """The live, public blog under the home page, if there is one."""
    return BlogIndexPage.objects.live().public().child_of(home).first()


def live_post_ids() -> list[int]:
    """Ids of every live, public post; cached, and dropped (blog.signals) whenever a post is
    published, unpublished, moved or deleted, or a view restriction is added or removed."""
    ids: list[int] = cache.get_or_set(  # type: ignore[assignment]  # the computed list when missing
        LIVE_POST_IDS_KEY,
        lambda: list(BlogPage.objects.live().public().values_list("pk", flat=True)),
        settings.PUBLIC_CACHE_TTL,
    )
    return ids


def forget_live_post_ids() -> None:
    cache.delete(LIVE_POST_IDS_KEY)


def random_posts(*, count: int = 3) -> list[BlogPage]:
    """Up to `count` live, public posts picked at random from the cached ids, never by
    ORDER BY RANDOM() over the whole table.

    Ids that drop out (a post that went private or was unpublished behind the cache's back)
    are replaced: the cached list is rebuilt and the missing cards drawn from it, so the page
    still shows `count` posts when there are that many."""
    ids = live_post_ids()
    posts = _posts(random.sample(ids, min(count, len(ids))))
    if len(posts) < min(count, len(ids)):
        forget_live_post_ids()
        shown = {post.pk for post in posts}
        fresh = [pk for pk in live_post_ids() if pk not in shown]
        posts += _posts(random.sample(fresh, min(count - len(posts), len(fresh))))
    return posts


def _posts(ids: list[int]) -> list[BlogPage]:
    """The live, public posts among `ids`, in that order, with their cover images."""
    if not ids:
        return []
    posts = (
        BlogPage.objects.live()
        .public()
        .filter(pk__in=ids)
        .select_related("cover_image")
        .prefetch_related("cover_image__renditions")
    )
    by_id = {post.pk: post for post in posts}
    return [by_id[pk] for pk in ids if pk in by_id]


def view_count(*, page: BlogPage) -> int:
    """How many times `page` was read (0 before its first reader)."""
    return page.view_count
