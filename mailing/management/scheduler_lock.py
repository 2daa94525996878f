"""One scheduler per database: a lock that `run_scheduler` holds for its whole life.

PostgreSQL: a session-level advisory lock, on a connection of its own (never the one Django
hands to jobs, which closes and reopens it), so it lasts exactly as long as the process, or
its connection: a process killed with -9 or cut off from the server loses it at once, and
whoever waits takes over. SQLite: an exclusive `flock` on a file next to the database, which
the kernel releases when the process ends.

The holder names itself (process id, host, start time) so the one refused can say who has it.
"""

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import connections
from django.db.utils import load_backend

# pg_try_advisory_lock(key1, key2): this project's namespace ("CAMP") and the scheduler's number.
ADVISORY_NAMESPACE = 0x43414D50
ADVISORY_SCHEDULER = 1


def holder_name() -> str:
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"run_scheduler pid {os.getpid()} on {socket.gethostname()} since {started}"


class SchedulerLock:
    """`acquire()` once, `still_held()` now and then, `release()` at exit (or just exit)."""

    def __init__(self, alias: str = "default") -> None:
        self._settings = dict(connections[alias].settings_dict)
        self._alias = alias
        self._vendor = connections[alias].vendor
        self._name = holder_name()
        self._connection: Any = None  # PostgreSQL: the DB-API connection holding the lock
        self._fd: int | None = None  # SQLite: the locked file
        self._held = False

    # --- public -----------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        if self._vendor == "postgresql":
            self._held = self._try_postgresql()
        elif self._vendor == "sqlite":
            self._held = self._try_file()
        else:
            raise NotImplementedError(f"No scheduler lock for {self._vendor}")
        return self._held

    def acquire(
        self, *, wait: bool, notice: Callable[[str], object], poll_seconds: float = 2.0
    ) -> bool:
        """Take the lock. If another process has it: with `wait`, say so once and try again
        every `poll_seconds` until it is free; without, say so and return False."""
        if self.try_acquire():
            return True
        message = f"Another scheduler is running against this database ({self.holder()})."
        if not wait:
            notice(f"{message} Not starting a second one.")
            return False
        notice(f"{message} Waiting for it to stop; --no-wait exits instead.")
        while not self.try_acquire():
            time.sleep(poll_seconds)
        notice("The other scheduler stopped; this one takes over.")
        return True

    def still_held(self) -> bool:
        """True while the lock is ours. On PostgreSQL a lost connection loses the lock: take it
        again on a new connection if nobody else has meanwhile."""
        if self._vendor != "postgresql" or not self._held:
            return self._held
        try:
            with self._connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except Exception:  # any failure means the session, and the lock, are gone
            self._close_connection()
            try:
                self._held = self._try_postgresql()
            except Exception:  # the server is still away: not held
                self._close_connection()
                self._held = False
            return self._held

    def holder(self) -> str:
        """Who holds the lock, as they named themselves (or what is known of them)."""
        if self._vendor == "postgresql":
            return self._postgresql_holder()
        try:
            return self._lock_path().read_text().strip() or "a process that did not say"
        except OSError:
            return "a process that did not say"

    def release(self) -> None:
        self._held = False
        if self._vendor == "postgresql":
            self._close_connection()
        elif self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # --- PostgreSQL -------------------------------------------------------------------------

    def _connect(self):
        wrapper = load_backend(self._settings["ENGINE"]).DatabaseWrapper(
            dict(self._settings), self._alias
        )
        wrapper.ensure_connection()
        raw = wrapper.connection
        raw.autocommit = True
        return raw

    def _try_postgresql(self) -> bool:
        if self._connection is None:
            self._connection = self._connect()
            with self._connection.cursor() as cursor:
                cursor.execute("SET application_name TO %s", [self._name[:63]])
        with self._connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_NAMESPACE, ADVISORY_SCHEDULER]
            )
            acquired = cursor.fetchone()[0]
        if not acquired:
            self._close_connection()
        return acquired

    def _postgresql_holder(self) -> str:
        connection = self._connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    SELECT activity.application_name, activity.client_addr, activity.pid
                    FROM pg_locks AS lock
                    JOIN pg_stat_activity AS activity ON activity.pid = lock.pid
                    WHERE lock.locktype = 'advisory' AND lock.granted
                      AND lock.classid = %s AND lock.objid = %s AND lock.objsubid = 2
                      AND lock.database = (
                          SELECT oid FROM pg_database WHERE datname = current_database()
                      )
                    """,
                    [ADVISORY_NAMESPACE, ADVISORY_SCHEDULER],
                )
                row = cursor.fetchone()
        finally:
            connection.close()
        if row is None:
            return "a process that has just stopped"
        name, address, backend_pid = row
        where = f", connected from {address}" if address else ""
        return f"{name or 'an unnamed client'}{where}; server process {backend_pid}"

    def _close_connection(self) -> None:
        if self._connection is not None:
            # Closing a dead connection may fail too.
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    # --- SQLite -------------------------------------------------------------------------------

    def _lock_path(self) -> Path:
        return Path(f"{self._settings['NAME']}.scheduler-lock")

    def _try_file(self) -> bool:
        name = str(self._settings["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            return True  # one process only: nothing to share the database with
        fd = os.open(self._lock_path(), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{self._name}\n".encode())
        self._fd = fd
        return True
