"""The home page for anonymous visitors, answered from the cache without a database query.

The visits that matter for load are anonymous, and for them the page is the same for everyone
except the three random blog posts. So a rendered page is kept as a *shell* whose card row is a
placeholder, and each post's card is kept on its own. A visit takes the shell and three cards
drawn at random from the cached ids of the live posts: the posts still vary per request, and a
hit costs four cache round trips (the two versions below, one get_many for the shell and the
ids, one for the cards) instead of Wagtail's routing, the posts' queries and the template. A
miss (or a signed-in user) gets the page rendered as usual, which refills the cache; its
output is the same.

Both answers carry the same ETag, made from the versions and the shell (`Versions.etag`), not
from the content: the cards differ per visit, so a content ETag would never match. A browser
that revalidates gets a 304 (from ConditionalGetMiddleware) and keeps its three cards until
something on the page changes.

Shells and cards are kept per language (LocaleMiddleware has chosen it before this runs).

Nothing stale is read, because every key carries versions that writes renew:
* the site's campaign-data version (`mailing.cache`, renewed by every write that changes the
  totals) — the totals are exact the moment data changes, as on a rendered page;
* the pages version, renewed whenever a page is published, unpublished, moved or deleted, a
  view restriction, site or image changes (see home/signals.py) — the home page's own text and
  every card's title, picture and link.
"""

import hashlib
import random
import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import quote_etag
from django.utils.translation import get_language

from blog.selectors import LIVE_POST_IDS_KEY
from mailing import cache as campaign_cache

CARDS_ON_HOME_PAGE = 3
PAGES_VERSION_KEY = "home:pages-version"
# The home page template marks the card row and each card with these comments.
CARD_ROW = re.compile(r"(<!--cards-->)(.*?)(<!--/cards-->)", re.DOTALL)
CARD = re.compile(r"<!--card:(\d+)-->.*?<!--/card-->", re.DOTALL)
PLACEHOLDER = "<!--random cards-->"
# What a version reads as when the cache cannot keep one (mailing.cache uses the same).
UNKNOWN_VERSION = "0"


def pages_version() -> str:
    current = cache.get(PAGES_VERSION_KEY)
    if current is None:
        cache.add(PAGES_VERSION_KEY, uuid.uuid4().hex, None)
        current = cache.get(PAGES_VERSION_KEY) or UNKNOWN_VERSION
    return current


def renew_pages_version() -> None:
    cache.set(PAGES_VERSION_KEY, uuid.uuid4().hex, None)


@dataclass(frozen=True)
class Versions:
    pages: str
    campaigns: str

    @classmethod
    def current(cls) -> "Versions":
        return cls(pages_version(), campaign_cache.version(campaign_cache.SITE))

    def shell_key(self, request: HttpRequest) -> str:
        return f"home:shell:{request.get_host()}:{get_language()}:{self.pages}:{self.campaigns}"

    def card_key(self, post_id: int) -> str:
        return f"home:card:{get_language()}:{self.pages}:{post_id}"

    def etag(self, shell: str) -> str | None:
        """The anonymous page's ETag: the versions, which change with anything it shows, and
        its shell, which changes when a deployment changes the templates (or the hashed
        static names in them) while the versions, kept in the cache, stay the same.

        None when the cache could not give the versions (Redis down, CACHE_BACKEND=dummy):
        they are then the fallback "0", which no write renews."""
        if UNKNOWN_VERSION in (self.pages, self.campaigns):
            return None
        digest = hashlib.md5(
            f"{self.pages}:{self.campaigns}:{shell}".encode(), usedforsecurity=False
        ).hexdigest()
        return quote_etag(digest)


def shares_cached_copy(request: HttpRequest) -> bool:
    """Whether this visit gets the page everybody gets: a plain GET or HEAD without a session
    (so signed out, no flash message kept in the session) and without a flash message cookie."""
    return (
        request.method in ("GET", "HEAD")
        and not request.GET
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and CookieStorage.cookie_name not in request.COOKIES
    )


def cached_response(request: HttpRequest) -> HttpResponse | None:
    """The page from the cache, with cards drawn for this visit; None when anything is missing."""
    versions = Versions.current()
    shell_key = versions.shell_key(request)
    found = cache.get_many([shell_key, LIVE_POST_IDS_KEY])
    if shell_key not in found or LIVE_POST_IDS_KEY not in found:
        return None
    post_ids = found[LIVE_POST_IDS_KEY]
    chosen = random.sample(post_ids, min(CARDS_ON_HOME_PAGE, len(post_ids)))
    card_keys = [versions.card_key(post_id) for post_id in chosen]
    cards = cache.get_many(card_keys)
    if len(cards) != len(card_keys):
        return None
    shell = found[shell_key]
    response = HttpResponse(shell.replace(PLACEHOLDER, "".join(cards[key] for key in card_keys), 1))
    _set_etag(response, versions.etag(shell))
    patch_vary_headers(response, ["Cookie"])
    return response


def keep(request: HttpRequest, response: HttpResponse, versions: Versions) -> None:
    """Cache the rendered page's shell and cards, and give it the ETag its cached copy will
    have, if this rendering is the one everybody gets.

    `versions` must be read before the page was rendered: a write during rendering then files
    the copy under a version that is already gone."""
    if (
        response.status_code != 200
        or response.cookies
        or request.user.is_authenticated
        or getattr(request, "is_preview", False)
        or request.META.get("CSRF_COOKIE_NEEDS_UPDATE")  # the page used a CSRF token
        or not shares_cached_copy(request)
    ):
        return
    html = response.content.decode(response.charset)
    row = CARD_ROW.search(html)
    if row is None:
        return
    shell = html[: row.start(2)] + PLACEHOLDER + html[row.end(2) :]
    _set_etag(response, versions.etag(shell))
    entries = {versions.shell_key(request): shell}
    for card in CARD.finditer(row.group(2)):
        entries[versions.card_key(int(card.group(1)))] = card.group(0)
    cache.set_many(entries, settings.PUBLIC_CACHE_TTL)


def _set_etag(response: HttpResponse, etag: str | None) -> None:
    # Without one of ours, ConditionalGetMiddleware hashes the content: never a 304.
    if etag is not None:
        response["ETag"] = etag


class AnonymousHomePageMiddleware:
    """Answers anonymous visits to the home page from its cached copy (see the module's
    docstring). Last in MIDDLEWARE, so every other middleware still sees the request and the
    response (security headers, ETag, frame options)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/" and shares_cached_copy(request):
            response = cached_response(request)
            if response is not None:
                return response
        return self.get_response(request)
