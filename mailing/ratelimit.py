"""Counting limits in the shared cache (Redis in production): so many hits per key per window.

A window starts with the first hit (`cache.add`, which only one of several web workers wins)
and ends `seconds` later. The cache being down lets every hit through: an outage of Redis
degrades to no limit rather than to refusing every visitor.
"""

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)


def hit(key: str, *, limit: int, seconds: int) -> bool:
    """Count one hit on `key`; whether it is within `limit` for the current window."""
    key = f"ratelimit:{key}"
    try:
        if cache.add(key, 1, seconds):
            return limit >= 1
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: a new window
            cache.add(key, 1, seconds)
            count = 1
    except Exception:
        logger.warning("ratelimit.cache_unavailable", extra={"key": key})
        return True
    return count <= limit
