"""Keys of the blog's cached fragments: what of an image must change the HTML kept for it.

Reads only the page it is given and the image table, never the blog's own models: the page
model builds its context from here (blog.models imports this module, not the other way)."""

from typing import Any

from wagtail.images import get_image_model
from wagtail.images.models import AbstractImage


def image_version(image: AbstractImage | None) -> str:
    """The image's id, content hash and file name ("" for none): part of the key of every
    cached fragment that shows it. Replacing an image's file deletes its renditions, and the
    new file gets a new name, so HTML cached before would point at pictures that are gone."""
    if image is None:
        return ""
    return _version(image.pk, image.file_hash, image.file.name)


def images_key(*, page: Any) -> str:
    """image_version of every image a post (a BlogPage) shows, cover and body, in one query
    (none without images): the key of the post's cached body."""
    ids = {
        block["value"].get("image") for block in page.body.raw_data if block["type"] == "image"
    } - {None}
    if page.cover_image_id:
        ids.add(page.cover_image_id)
    if not ids:
        return ""
    rows = get_image_model().objects.filter(pk__in=ids).order_by("pk")
    return ";".join(_version(*row) for row in rows.values_list("pk", "file_hash", "file"))


def _version(pk: int, file_hash: str, file_name: str) -> str:
    return f"{pk}:{file_hash}:{file_name}"
