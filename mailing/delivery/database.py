"""The database thread: the caller's connection (or one of its own), used from a thread of its
own, so that the sender's loop goes on sending while a claim or a group's record is written.

Jobs run one at a time, in order, and their results are handed to their callbacks in the
conductor's thread (`collect`); the conductor waits (`wait`) before it uses the caller's
connection itself, so two threads never use one connection at the same time. Inside a
caller's transaction the jobs are in it too.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from .records import Outcome, write_outcomes
from .sender import Sender

logger = logging.getLogger("mailing.delivery")


def write_group(sender: Sender, outcomes: list[Outcome], slots: int) -> dict[str, int]:
    """On the database thread: write a group, then give its slots back to the loop at once."""
    counts = write_with_retries(outcomes)
    sender.committed_threadsafe(slots)
    return counts


def write_with_retries(outcomes: list[Outcome]) -> dict[str, int]:
    """`write_outcomes`, retrying a failing database briefly. If the group cannot be written
    its slots stay taken, so nothing more goes out unrecorded; its claims stay leased, and
    after the lease another sender sends them again."""
    for attempt in range(3):
        try:
            return write_outcomes(outcomes)
        except Exception:
            if attempt == 2:
                logger.exception("delivery.record_failed", extra={"count": len(outcomes)})
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


class Database:
    """The caller's database connection, used from a thread of its own: jobs run there one at
    a time, in order, and their results are handed to their callbacks in the conductor's
    thread (`collect`). Inside a caller's transaction the jobs are in it too. After a job
    fails, the ones after it are skipped: the connection is not to be trusted."""

    def __init__(self, *, on_done: Callable[[], None], own_connection: bool = False) -> None:
        self._on_done = on_done
        self._own = own_connection
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._pending = 0
        self._error: BaseException | None = None
        self._wrapper = connections[DEFAULT_DB_ALIAS]  # this thread's: the caller's
        if not own_connection:
            self._wrapper.inc_thread_sharing()
        self._thread = threading.Thread(target=self._run, name="delivery-db", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], Any], then: Callable[[Any], None]) -> None:
        with self._idle:
            self._pending += 1
        self._jobs.put((job, then))

    def collect(self) -> None:
        """Hand the finished jobs' results to their callbacks; raise what made one fail."""
        while True:
            try:
                then, result = self._results.get_nowait()
            except queue.Empty:
                break
            then(result)
        if self._error is not None:
            raise self._error

    def wait(self) -> None:
        with self._idle:
            while self._pending:
                self._idle.wait()

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()
        if not self._own:
            self._wrapper.dec_thread_sharing()

    def _run(self) -> None:
        # This thread's `django.db.connection` is the caller's (the same session, the same
        # transaction; the conductor never uses it while a job runs), or a new one.
        if not self._own:
            connections[self._wrapper.alias] = self._wrapper
        try:
            self._serve()
        finally:
            if self._own:
                connections[self._wrapper.alias].close()

    def _serve(self) -> None:
        while (item := self._jobs.get()) is not None:
            job, then = item
            try:
                if self._error is None:
                    self._results.put((then, job()))
                else:
                    logger.error("delivery.database_job_skipped")
            except BaseException as exc:
                self._error = exc
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
                self._on_done()
