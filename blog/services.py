"""Writes for the public blog."""

from django.db import connection
from django.http import HttpRequest

from . import selectors
from .models import BlogPage, BlogPageViewCount


def record_view(*, page: BlogPage, request: HttpRequest) -> int:
    """Count `request` as one view of `page` if a reader made it, and return the page's count.

    A reader's view is a GET outside the editor's preview: a HEAD (link checkers, uptime
    probes) or a preview is not one, and only reads the count. One upsert statement per view,
    so concurrent views never lose a count and the first view needs no row made beforehand.
    """
    if request.method != "GET" or getattr(request, "is_preview", False):
        return selectors.view_count(page=page)
    quote = connection.ops.quote_name
    table = quote(BlogPageViewCount._meta.db_table)
    page_column = quote(BlogPageViewCount._meta.get_field("page").column)
    views = quote("views")
    with connection.cursor() as cursor:
        # PostgreSQL and SQLite (3.35+) both have ON CONFLICT … DO UPDATE and RETURNING.
        cursor.execute(
            f"INSERT INTO {table} ({page_column}, {views}) VALUES (%s, 1) "
            f"ON CONFLICT ({page_column}) DO UPDATE SET {views} = {table}.{views} + 1 "
            f"RETURNING {views}",
            [page.pk],
        )
        return cursor.fetchone()[0]
