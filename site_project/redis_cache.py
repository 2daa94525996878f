"""django-redis's cache backend, made to keep the site working while Redis is away.

Without this, a Redis outage costs every cache call a connection attempt (or a full socket
timeout when the host does not answer), and allauth's rate limiter, whose lock is a
`cache.add` that can never succeed then, answers every sign-in, sign-up and password reset
with 429. Here:

* **Circuit breaker.** The first call that cannot reach Redis opens the circuit for
  `RETRY_AFTER_SECONDS` (one per server, shared by every alias, thread and backend instance of
  the process): calls skip Redis and answer at once. When the time is up, one call probes
  Redis again; success closes the circuit, failure keeps it open for another period. So an
  unreachable Redis costs one timeout per period and process, not one per call.
* **Misses, except rate-limit counters.** While the circuit is open a read is a miss and a
  write is dropped, as with `IGNORE_EXCEPTIONS`. Keys under `LOCAL_FALLBACK_KEY_PREFIXES`
  (allauth's rate-limit counters and their locks) go to a local-memory cache of the process
  instead, so the limits still hold per process (closed for brute force) and a correct
  password still gets in (open for a person).
* **No stale entries after the outage.** A write that did not reach Redis (a session saved or
  deleted, a cache version renewed) leaves the old value there, which another process could
  read once Redis is back, or this one after the outage. Every such key is remembered, and
  deleted in Redis before this namespace's first call after the outage (more than
  `MAX_LOST_WRITES` of them: the namespace's keys are all deleted). Sessions live in the
  database too (`cached_db`), so for them Redis only ever speeds up reads.

Only Django's cache API goes through the breaker (get, set, add, delete, the *_many variants,
has_key, incr, decr, touch, clear); django-redis's extras (lock, ttl, sets...) are left as
django-redis makes them, and the project does not use them.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django_redis.cache import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("site_project.cache")

T = TypeVar("T")
# What "Redis cannot be reached" looks like from redis-py: refused, reset, timed out.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class Circuit:
    """Whether calls to one Redis server go out, shared by the whole process."""

    def __init__(self, retry_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.retry_after = retry_after
        self.clock = clock
        self.open_until: float | None = None
        # How many calls found Redis unreachable (tests and logs read it).
        self.failures = 0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self.open_until is not None

    def allows(self) -> bool:
        """True if this call may go to Redis: always while closed; once per period while open
        (that call is the probe, the others keep skipping until it has answered)."""
        if self.open_until is None:
            return True
        with self._lock:
            now = self.clock()
            if self.open_until is not None and now >= self.open_until:
                self.open_until = now + self.retry_after
                return True
            return self.open_until is None

    def trip(self, server: str, error: BaseException) -> None:
        with self._lock:
            opened = self.open_until is None
            self.open_until = self.clock() + self.retry_after
            self.failures += 1
        if opened:
            logger.warning(
                "cache.redis_unreachable",
                extra={"server": server, "error": repr(error), "retry_after": self.retry_after},
            )

    def close(self, server: str) -> None:
        if self.open_until is None:
            return
        with self._lock:
            reopened = self.open_until is not None
            self.open_until = None
        if reopened:
            logger.info("cache.redis_back", extra={"server": server})


@dataclass
class LostWrites:
    """Keys of one cache namespace whose writes did not reach Redis during an outage."""

    limit: int
    keys: set[tuple[str, int | None]] = field(default_factory=set)
    overflowed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, keys: Iterable[str], version: int | None) -> None:
        with self.lock:
            if self.overflowed:
                return
            self.keys.update((key, version) for key in keys)
            if len(self.keys) > self.limit:
                self.keys.clear()
                self.overflowed = True

    def __bool__(self) -> bool:
        return self.overflowed or bool(self.keys)


_registry_lock = threading.Lock()
_circuits: dict[str, Circuit] = {}
_lost_writes: dict[str, LostWrites] = {}


def circuit_for(server: str, retry_after: float = 5.0) -> Circuit:
    """The process's circuit for this Redis server (created on first use)."""
    with _registry_lock:
        if server not in _circuits:
            _circuits[server] = Circuit(retry_after)
        return _circuits[server]


class ResilientRedisCache(RedisCache):
    """`django_redis.cache.RedisCache` behind a circuit breaker (see the module docstring).

    OPTIONS, besides django-redis's own (whose IGNORE_EXCEPTIONS this backend replaces):
    RETRY_AFTER_SECONDS (5), LOCAL_FALLBACK_KEY_PREFIXES (none), MAX_LOST_WRITES (10,000).
    """

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS", {}))
        retry_after = float(options.pop("RETRY_AFTER_SECONDS", 5))
        self._local_prefixes = tuple(options.pop("LOCAL_FALLBACK_KEY_PREFIXES", ()))
        max_lost = int(options.pop("MAX_LOST_WRITES", 10_000))
        # Errors must reach this class, which decides what a failure means.
        options["IGNORE_EXCEPTIONS"] = False
        super().__init__(server, {**params, "OPTIONS": options})
        self._circuit = circuit_for(server, retry_after)
        namespace = f"{server}|{self.key_prefix}"
        with _registry_lock:
            self._lost = _lost_writes.setdefault(namespace, LostWrites(max_lost))
        # LocMemCache instances with the same name share their storage: one per process.
        self._local = LocMemCache(
            f"redis-fallback|{namespace}", {"OPTIONS": {"MAX_ENTRIES": 10_000}}
        )

    # --- The one path every call takes ----------------------------------------------------------

    def _is_local(self, keys: Iterable[str]) -> bool:
        keys = list(keys)
        return (
            bool(self._local_prefixes)
            and bool(keys)
            and all(str(key).startswith(self._local_prefixes) for key in keys)
        )

    def _call(
        self,
        remote: Callable[[], T],
        *,
        keys: Iterable[str],
        version: int | None,
        write: bool,
        local: Callable[[], T],
        unreachable: Callable[[], T],
    ) -> T:
        keys = list(keys)
        on_local = self._is_local(keys)
        if self._circuit.allows():
            try:
                if self._lost:
                    self._forget_lost_writes()
                result = remote()
            except UNREACHABLE as error:
                self._circuit.trip(self._server, error)
            except ResponseError as error:
                # Redis answered, but refused (out of memory, a read-only replica): a miss,
                # as IGNORE_EXCEPTIONS gave, without taking Redis out for everyone.
                logger.warning("cache.redis_refused", extra={"error": repr(error)})
                if write and not on_local:
                    self._lost.add(keys, version)
                return local() if on_local else unreachable()
            else:
                self._circuit.close(self._server)
                return result
        if on_local:
            return local()
        if write:
            self._lost.add(keys, version)
        return unreachable()

    def _forget_lost_writes(self) -> None:
        """Delete in Redis what outage-time writes could not replace (raises if unreachable)."""
        with self._lost.lock:
            overflowed, keys = self._lost.overflowed, set(self._lost.keys)
        if overflowed:
            RedisCache.delete_pattern(self, "*", itersize=500)
        else:
            by_version: dict[int | None, list[str]] = {}
            for key, version in keys:
                by_version.setdefault(version, []).append(key)
            for version, names in by_version.items():
                RedisCache.delete_many(self, names, version=version)
        with self._lost.lock:
            self._lost.keys -= keys
            if overflowed:
                self._lost.overflowed = False

    # --- Django's cache API ---------------------------------------------------------------------

    def get(self, key, default=None, version=None, client=None):
        return self._call(
            lambda: RedisCache.get(self, key, default, version, client),
            keys=[key],
            version=version,
            write=False,
            local=lambda: self._local.get(key, default, version),
            unreachable=lambda: default,
        )

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None, client=None, **kwargs):
        return self._call(
            lambda: RedisCache.set(self, key, value, timeout, version, client, **kwargs),
            keys=[key],
            version=version,
            write=True,
            local=lambda: self._local.set(key, value, self._local_timeout(timeout), version),
            unreachable=lambda: False,
        )

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None, client=None):
        return self._call(
            lambda: RedisCache.add(self, key, value, timeout, version, client),
            keys=[key],
            version=version,
            write=True,
            local=lambda: self._local.add(key, value, self._local_timeout(timeout), version),
            unreachable=lambda: False,
        )

    def delete(self, key, version=None, prefix=None, client=None):
        return self._call(
            lambda: RedisCache.delete(self, key, version=version, prefix=prefix, client=client),
            keys=[key],
            version=version,
            write=True,
            local=lambda: self._local.delete(key, version),
            unreachable=lambda: False,
        )

    def get_many(self, keys, version=None, client=None):
        keys = list(keys)
        return self._call(
            lambda: RedisCache.get_many(self, keys, version=version, client=client),
            keys=keys,
            version=version,
            write=False,
            local=lambda: self._local.get_many(keys, version),
            unreachable=dict,
        )

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None, client=None):
        data = dict(data)
        return self._call(
            lambda: RedisCache.set_many(self, data, timeout, version=version, client=client),
            keys=data,
            version=version,
            write=True,
            local=lambda: self._local.set_many(data, self._local_timeout(timeout), version),
            unreachable=lambda: list(data),
        )

    def delete_many(self, keys, version=None, client=None):
        keys = list(keys)
        return self._call(
            lambda: RedisCache.delete_many(self, keys, version=version, client=client),
            keys=keys,
            version=version,
            write=True,
            local=lambda: self._local.delete_many(keys, version),
            unreachable=lambda: None,
        )

    def has_key(self, key, version=None, client=None):
        return self._call(
            lambda: RedisCache.has_key(self, key, version=version, client=client),
            keys=[key],
            version=version,
            write=False,
            local=lambda: self._local.has_key(key, version),
            unreachable=lambda: False,
        )

    def incr(self, key, delta=1, version=None, client=None, **kwargs):
        return self._call(
            lambda: RedisCache.incr(self, key, delta, version, client, **kwargs),
            keys=[key],
            version=version,
            write=True,
            local=lambda: self._local.incr(key, delta, version),
            unreachable=lambda: self._missing(key),
        )

    def decr(self, key, delta=1, version=None, client=None, **kwargs):
        return self.incr(key, -delta, version, client, **kwargs)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None, client=None):
        return self._call(
            lambda: RedisCache.touch(self, key, timeout, version, client),
            keys=[key],
            version=version,
            write=True,
            local=lambda: self._local.touch(key, self._local_timeout(timeout), version),
            unreachable=lambda: False,
        )

    def clear(self) -> None:
        self._local.clear()
        if self._circuit.allows():
            try:
                RedisCache.clear(self)
            except UNREACHABLE as error:
                self._circuit.trip(self._server, error)
            else:
                self._circuit.close(self._server)
                with self._lost.lock:
                    self._lost.keys.clear()
                    self._lost.overflowed = False
                return
        # Whatever Redis holds must not be read after the outage.
        with self._lost.lock:
            self._lost.keys.clear()
            self._lost.overflowed = True

    # --------------------------------------------------------------------------------------------

    def _local_timeout(self, timeout):
        return self.default_timeout if timeout is DEFAULT_TIMEOUT else timeout

    @staticmethod
    def _missing(key: str):
        raise ValueError(f"Key '{key}' not found")
