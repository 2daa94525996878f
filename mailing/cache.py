"""Versioned cache namespaces for dashboard lists and stats.

Each owner has a namespace and the site has one (managers and the public home page read it).
Every write that changes what an owner sees calls `bump(owner_id=...)`, which gives both
namespaces a fresh random version; keys embed the version, so an entry written before the
change is never read again and simply expires. A random version (not a counter) cannot come
back after an eviction and resurrect old entries.

The new version is set when the write commits, never before: a reader between a bump and the
commit would still see the old rows and cache them under the new version, stale until the TTL.
"""

import hashlib
import uuid
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

SITE = "site"
T = TypeVar("T")


def _version_key(scope: str | int) -> str:
    return f"dash:ver:{scope}"


def version(scope: str | int) -> str:
    """The scope's current version (a new one if it has none yet)."""
    key = _version_key(scope)
    current = cache.get(key)
    if current is None:
        cache.add(key, uuid.uuid4().hex, None)
        current = cache.get(key) or "0"
    return current


def bump(*, owner_id: int | None) -> None:
    """Invalidate everything cached for this owner and everything site-wide, once the current
    transaction commits (at once outside a transaction; never if it rolls back)."""
    scopes: list[str | int] = [SITE] if owner_id is None else [owner_id, SITE]
    transaction.on_commit(
        lambda: cache.set_many({_version_key(scope): uuid.uuid4().hex for scope in scopes}, None)
    )


def cached(*, scope: str | int, name: str, params: object, compute: Callable[[], T]) -> T:
    """`compute()` cached under `name` + `params` in the scope's current version."""
    digest = hashlib.sha1(repr(params).encode(), usedforsecurity=False).hexdigest()[:16]
    key = f"dash:{scope}:{version(scope)}:{name}:{digest}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, settings.DASHBOARD_CACHE_TTL)
    return value
