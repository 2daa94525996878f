"""A blog post as the body of a campaign message ("Mail this post").

The body is a Markdown message's body (`mailing.content.rich`) made of raw HTML blocks, one per
piece of the post: its cover, introduction, each StreamField block rendered for email, and a
link back to the post. Everything is made for a mail client, not the site:

* links and image addresses are absolute (settings.SITE_URL), as a mail has no base address;
* images are renditions of a width a mail's 600-pixel column shows well (`EMAIL_IMAGE_FILTER`);
* no script, style or frame survives (nh3, as at send time), and an embedded video or other
  embed becomes a link to it;
* braces are written as character references, so the post's own text can never read as a
  `{{ variable }}` of the message.

`post_subject` and `post_body` are plain functions of a page; `mailing.services.posts` decides
who may use which page.
"""

import html
import re

from django.conf import settings
from django.utils.translation import gettext
from wagtail.rich_text import expand_db_html

from mailing.content.rich import sanitise
from mailing.content.templating import literal

EMAIL_IMAGE_FILTER = "width-1200"  # shown at 600 CSS pixels: sharp on high-density screens
EMAIL_IMAGE_WIDTH = 600

_EMBED = re.compile(r"""<embed\b[^>]*\bembedtype=["']media["'][^>]*>""", re.IGNORECASE)
_EMBED_URL = re.compile(r"""\burl=["']([^"']+)["']""", re.IGNORECASE)
_RELATIVE = re.compile(r"""(\b(?:href|src)=["'])/(?!/)""", re.IGNORECASE)


def absolute(url: str) -> str:
    """`url` on the site's address (settings.SITE_URL) when it is a path."""
    if url.startswith("/") and not url.startswith("//"):
        return settings.SITE_URL.rstrip("/") + url
    return url


def post_subject(post) -> str:
    # A title may contain "{{" or "{%": it must not read as a variable.
    return literal(post.title)


def post_body(post) -> str:
    """The post as a message body: HTML blocks separated by blank lines (see the module)."""
    url = absolute(post.get_url() or post.url_path)
    blocks: list[str] = []
    if post.cover_image is not None:
        blocks.append(f"<p>{_image(post.cover_image, alt=post.title)}</p>")
    if post.intro:
        blocks.append(f"<p><strong>{html.escape(post.intro)}</strong></p>")
    for block in post.body:
        rendered = _block(block)
        if rendered:
            blocks.append(rendered)
    text = gettext("Read “%(title)s” on %(site)s") % {
        "title": post.title,
        "site": settings.SITE_NAME,
    }
    blocks.append(f'<p><a href="{html.escape(url)}">{html.escape(text)}</a></p>')
    return "\n\n".join(_for_markdown(sanitise(block)) for block in blocks) + "\n"


def _block(block) -> str:
    kind, value = block.block_type, block.value
    if kind == "paragraph":
        source = value.source if hasattr(value, "source") else str(value)
        expanded = expand_db_html(_EMBED.sub(_embed_link, source))
        site = settings.SITE_URL.rstrip("/")
        return "<div>" + _RELATIVE.sub(lambda m: f"{m.group(1)}{site}/", expanded) + "</div>"
    if kind == "image":
        caption = value.get("caption") or ""
        image = value.get("image")
        if image is None:
            return ""
        caption_html = f"<br><small>{html.escape(caption)}</small>" if caption else ""
        return f"<p>{_image(image, alt=caption or image.title)}{caption_html}</p>"
    if kind == "quote":
        text = html.escape(value.get("text") or "").replace("\n", "<br>")
        who = value.get("attribution")
        footer = f"<br><small>— {html.escape(who)}</small>" if who else ""
        return f"<blockquote><p>{text}{footer}</p></blockquote>"
    url = getattr(value, "url", None)
    if isinstance(url, str) and url:  # an embed block, or anything else with an address
        return _link(url)
    return ""


def _embed_link(match: re.Match[str]) -> str:
    found = _EMBED_URL.search(match.group(0))
    return _link(html.unescape(found.group(1))) if found else ""


def _link(url: str) -> str:
    escaped = html.escape(absolute(url))
    return f'<p><a href="{escaped}">{escaped}</a></p>'


def _image(image, *, alt: str) -> str:
    rendition = image.get_rendition(EMAIL_IMAGE_FILTER)
    width = min(EMAIL_IMAGE_WIDTH, rendition.width)
    return (
        f'<img src="{html.escape(absolute(rendition.url))}" alt="{html.escape(alt)}" '
        f'width="{width}">'
    )


def _for_markdown(block: str) -> str:
    """A sanitised HTML block as Markdown passes it through: on lines without a blank one
    between them, its braces as character references."""
    block = re.sub(r"\n\s*\n", "\n", block.strip())
    return block.replace("{", "&#123;").replace("}", "&#125;")


DIGEST_COVER_FILTER = "fill-1200x675"  # shown at 600 by 338 CSS pixels


def digest_body(posts) -> str:
    """New posts as a list for a digest mail: each with its cover, title (linked), intro and a
    link to read it; HTML blocks as `post_body` makes them."""
    blocks: list[str] = []
    for post in posts:
        url = html.escape(absolute(post.get_url() or post.url_path))
        parts = []
        if post.cover_image is not None:
            rendition = post.cover_image.get_rendition(DIGEST_COVER_FILTER)
            parts.append(
                f'<p><a href="{url}"><img src="{html.escape(absolute(rendition.url))}" '
                f'alt="{html.escape(post.title)}" width="{EMAIL_IMAGE_WIDTH}"></a></p>'
            )
        parts.append(f'<h2><a href="{url}">{html.escape(post.title)}</a></h2>')
        if post.intro:
            parts.append(f"<p>{html.escape(post.intro)}</p>")
        parts.append(f'<p><a href="{url}">{html.escape(gettext("Read the post"))}</a></p>')
        blocks.append("<div>" + "".join(parts) + "</div>")
    return "\n\n".join(_for_markdown(sanitise(block)) for block in blocks) + "\n"


def plain_as_html(text: str) -> str:
    """A plain-text message body as an HTML block (a digest puts posts after it)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    escaped = "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)
    return _for_markdown(f"<div>{escaped}</div>") + "\n"
