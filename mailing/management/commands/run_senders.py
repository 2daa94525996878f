"""Deliver every sendable run until stopped: the sender a deployment scales out with.

Start as many as the mail server and the database take, on any machine that reaches
PostgreSQL: they share the queue through its row locks, and two of them never deliver one
recipient twice. `--processes N` forks N senders under one parent, which passes SIGTERM and
SIGINT on to them; each writes its own log file (LOG_FILE with "-1", "-2"… before the suffix).
The scheduler stays the one process that starts, finishes and recovers runs.
"""

import contextlib
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

from django import db
from django.core.management.base import BaseCommand, CommandError

from mailing import delivery
from mailing.management.graceful import SIGNALS, GracefulStop

logger = logging.getLogger("mailing.senders")


class Command(BaseCommand):
    help = "Deliver every sendable run until stopped (SIGTERM or Ctrl+C). Any number may run."
    # A sender process starts in a fraction of a second; the checks import every URL and view.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--processes", type=int, default=1, help="Sender processes to fork (default 1)."
        )
        parser.add_argument(
            "--connections",
            type=int,
            default=None,
            help="SMTP connections per process (default: MAILING_SENDER_CONNECTIONS; at most "
            "2 x MAILING_COMMIT_EVERY).",
        )
        parser.add_argument(
            "--once", action="store_true", help="Deliver what can be claimed now, then exit."
        )

    def handle(self, *args, processes: int, connections: int | None, once: bool, **options):
        if processes < 1:
            raise CommandError("--processes must be at least 1.")
        if connections is not None and connections < 1:
            raise CommandError("--connections must be at least 1.")
        if processes == 1:
            self._serve(name="sender", connections=connections, once=once)
        else:
            self._supervise(processes=processes, connections=connections, once=once)

    def _serve(self, *, name: str, connections: int | None, once: bool) -> None:
        logger.info("senders.started", extra={"sender": name, "pid": os.getpid()})
        with GracefulStop(notice=self.stderr.write) as stop:
            try:
                total = delivery.serve(connections=connections, once=once)
            except KeyboardInterrupt:
                raise CommandError("Stopped at once.", returncode=stop.exit_code) from None
        logger.info(
            "senders.stopped",
            extra={
                "sender": name,
                "sent": total.sent,
                "failed": total.failed,
                "signal": stop.signum,
            },
        )
        self.stdout.write(
            f"{name}: sent {total.sent}, failed {total.failed}, retry later {total.deferred} "
            f"in {total.seconds:.2f} s ({total.rate:,.0f} msg/s)."
        )
        if stop.signum is not None:
            raise CommandError(
                "Stopped. What was sent is recorded; the rest stays queued.",
                returncode=stop.exit_code,
            )

    def _supervise(self, *, processes: int, connections: int | None, once: bool) -> None:
        """Fork the senders and wait for them; a signal is passed on to each."""
        # No connection may be shared across fork: each child opens its own.
        db.connections.close_all()
        children: dict[int, int] = {}
        for number in range(1, processes + 1):
            pid = os.fork()
            if pid == 0:  # the child: serve, and never return into the parent's code
                os._exit(self._child(number, connections=connections, once=once))
            children[pid] = number
        received: list[int] = []

        def tell_all(signum: int) -> None:
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

        def forward(signum: int, frame) -> None:
            received.append(signum)
            tell_all(signum)

        previous = {number: signal.signal(number, forward) for number in SIGNALS}
        failed: list[str] = []
        try:
            while children:
                pid, status = os.waitpid(-1, 0)
                finished = children.pop(pid, None)
                code = os.waitstatus_to_exitcode(status)
                if finished is not None and code != 0 and not received:
                    # A sender died on its own: stop the others, and let the service manager
                    # restart the whole (its claims come back when their lease runs out).
                    failed.append(f"sender {finished} exited with status {code}")
                    tell_all(signal.SIGTERM)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        if received:
            raise CommandError(
                "Stopped. What was sent is recorded; the rest stays queued.",
                returncode=128 + received[0],
            )
        if failed:
            raise CommandError("; ".join(failed))

    def _child(self, number: int, *, connections: int | None, once: bool) -> int:
        """A forked sender's whole life; returns its exit status."""
        try:
            _own_log_files(suffix=f"-{number}")
            self._serve(name=f"sender {number}", connections=connections, once=once)
            return 0
        except CommandError as exc:
            self.stderr.write(f"sender {number}: {exc}")
            return exc.returncode
        except BaseException:
            traceback.print_exc()
            return 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            logging.shutdown()


def _own_log_files(*, suffix: str) -> None:
    """Point the inherited file handlers at a file of this process's own: a rotating file is
    not safe to share between processes."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.close()  # reopened on the next line logged
            path = Path(handler.baseFilename)
            handler.baseFilename = str(path.with_name(f"{path.stem}{suffix}{path.suffix}"))
