"""Delivery benchmark: our engine against a naive send_mail() loop, on a loopback SMTP sink.

Prints msg/s end to end (every attempt committed) as the engine counts it and as the operator
waits for it (wall clock: process start, enqueueing the run and the summary included), the naive
baseline and the ratio, and the sender's peak RSS at two sizes. Runs the real `manage.py send_mailing` in child processes so
that their memory is measured alone. Needs PostgreSQL (`make bench-send` sets it up).
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from mailing.management.progress import ProgressBar
from mailing.models import Mailing, Message, Recipient
from mailing.smtp_sink import free_port
from users.models import User

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")
BENCH_OWNER = "bench-send@example.com"
SUMMARY = re.compile(r"Sent (\d+), failed (\d+).* in ([\d.]+) s \(([\d,]+) msg/s\)")

NAIVE_LOOP = """
import django, sys, time
django.setup()
from django.core.mail import send_mail
from mailing.models import Recipient
emails = list(Recipient.objects.filter(owner__email=sys.argv[1]).values_list("email", flat=True)[: int(sys.argv[2])])
started = time.perf_counter()
for email in emails:
    send_mail("Benchmark", "Hello from the naive loop.", None, [email])  # a new connection each
print(len(emails), time.perf_counter() - started)
"""


@dataclass
class Result:
    label: str
    recipients: int
    sent: int
    seconds: float
    wall_seconds: float
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def wall_rate(self) -> float:
        return self.sent / self.wall_seconds if self.wall_seconds else 0.0


def _smtp_sink_binary() -> str | None:
    found = shutil.which("smtp-sink")
    return found or ("/usr/sbin/smtp-sink" if Path("/usr/sbin/smtp-sink").exists() else None)


class PeakMemory:
    """Follows a child process's peak resident memory (VmHWM) until it exits.

    Not getrusage's ru_maxrss: that counts the forked copy of this (larger) benchmark process
    from before the child's exec, so every child would show the parent's size."""

    def __init__(self, pid: int) -> None:
        self._path = Path(f"/proc/{pid}/status")
        self._peak_kb = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._done.is_set():
            try:
                for line in self._path.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self._peak_kb = max(self._peak_kb, int(line.split()[1]))
            except (OSError, ValueError):
                return  # the process has gone
            self._done.wait(0.05)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self._peak_kb / 1024


class Command(BaseCommand):
    help = "Benchmark the delivery engine against a naive loop on a loopback SMTP sink."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--recipients", type=int, default=100_000)
        parser.add_argument("--small", type=int, default=10_000, help="size for the RSS check")
        parser.add_argument(
            "--naive", type=int, default=5_000, help="recipients for the naive loop"
        )
        parser.add_argument("--connections", type=int, default=None)
        parser.add_argument(
            "--sink",
            choices=["auto", "both", "smtp-sink", "aiosmtpd"],
            default="auto",
            help="auto: both sinks when postfix's smtp-sink is installed, else aiosmtpd",
        )

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "bench_send measures PostgreSQL; run `make bench-send` or set DATABASE_URL "
                "to a PostgreSQL database made for benchmarking (its data is replaced)."
            )
        owner = self._fill(options["recipients"])
        sinks = ["smtp-sink", "aiosmtpd"] if options["sink"] == "both" else [options["sink"]]
        if options["sink"] == "auto":
            sinks = ["smtp-sink", "aiosmtpd"] if _smtp_sink_binary() else ["aiosmtpd"]
        reports = []
        for choice in sinks:
            sink_name, sink, port = self._start_sink(choice)
            self.stdout.write(f"\n=== {sink_name} ===")
            try:
                env = self._sender_env(port)
                n, small = options["recipients"], options["small"]
                results = [
                    self._engine(owner, env, n, "engine, commit every 50", "50", options),
                    self._engine(owner, env, n, "engine, commit every message", "1", options),
                    self._engine(owner, env, small, "engine, commit every 50", "50", options),
                    self._naive(env, options["naive"]),
                ]
            finally:
                sink.terminate()
                sink.wait(timeout=10)
            reports.append((sink_name, results))
        for sink_name, results in reports:
            self._report(sink_name, results)

    # -- set-up -----------------------------------------------------------------------------

    def _start_sink(self, choice: str) -> tuple[str, subprocess.Popen, int]:
        port = free_port()
        binary = _smtp_sink_binary()
        if choice == "smtp-sink":
            if binary is None:
                raise CommandError("smtp-sink is not installed (Debian package postfix).")
            process = subprocess.Popen(  # postfix's C sink: accepts and discards, fast
                [binary, "-u", "nobody", f"127.0.0.1:{port}", "256"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            name = "postfix smtp-sink (C)"
        else:
            process = subprocess.Popen(
                [sys.executable, "-m", "mailing.smtp_sink", "--port", str(port)],
                stdout=subprocess.PIPE,
                text=True,
            )
            process.stdout.readline()  # "ready <port>"
            name = "aiosmtpd (Python)"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        return name, process, port

    def _fill(self, count: int) -> User:
        self.stdout.write(f"Preparing {count:,} recipients…")
        owner, _ = User.objects.get_or_create(email=BENCH_OWNER)
        Mailing.objects.filter(owner=owner).delete()
        Message.objects.filter(owner=owner).delete()
        Recipient.objects.filter(owner=owner).delete()
        bar = ProgressBar(total=count, stream=self.stdout, label="recipients")
        step = 20_000
        with connection.cursor() as cursor:
            for start in range(0, count, step):
                stop = min(start + step, count)
                cursor.execute(
                    "INSERT INTO mailing_recipient (owner_id, email, full_name, comment, "
                    "created_at, updated_at) SELECT %s, 'r' || g || '@bench.example', "
                    "'Recipient ' || g, '', now(), now() FROM generate_series(%s, %s) g",
                    [owner.pk, start + 1, stop],
                )
                bar.update(stop)
            # Statistics, as autovacuum gathers them within a minute of a bulk load: a table
            # never analysed looks a tenth of its size to the planner, which then scans all
            # the recipients for each batch of claims instead of looking them up by key.
            cursor.execute("ANALYZE mailing_recipient")
        bar.finish(count)
        return owner

    def _mailing(self, owner: User, recipients: int) -> Mailing:
        message = Message.objects.create(
            owner=owner,
            subject="Benchmark",
            body="Hello,\n\nThis is the delivery benchmark. Nothing to see here.\n\nThe team",
        )
        later = timezone.now() + timedelta(days=1)
        mailing = Mailing.objects.create(
            owner=owner,
            message=message,
            first_send_at=later,
            end_at=later + timedelta(days=1),
            schedule_anchor=later,
            next_send_at=later,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO mailing_mailing_recipients (mailing_id, recipient_id) "
                "SELECT %s, id FROM mailing_recipient WHERE owner_id = %s ORDER BY id LIMIT %s",
                [mailing.pk, owner.pk, recipients],
            )
        return mailing

    def _sender_env(self, port: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DEBUG": "false",  # no query log: measure what production runs
                "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(port),
                "EMAIL_USE_TLS": "false",
                "EMAIL_USE_SSL": "false",
                "EMAIL_HOST_USER": "",
                "EMAIL_HOST_PASSWORD": "",
                "LOG_LEVEL": "WARNING",
                "DJANGO_SETTINGS_MODULE": os.environ.get(
                    "DJANGO_SETTINGS_MODULE", "site_project.settings.dev"
                ),
            }
        )
        return env

    # -- scenarios ----------------------------------------------------------------------------

    def _engine(
        self, owner: User, env: dict, recipients: int, label: str, commit_every: str, options
    ) -> Result:
        mailing = self._mailing(owner, recipients)
        command = [sys.executable, MANAGE, "send_mailing", str(mailing.pk)]
        if options["connections"]:
            command += ["--connections", str(options["connections"])]
        self.stdout.write(f"\n{label}, {recipients:,} recipients:")
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            env={**env, "MAILING_COMMIT_EVERY": commit_every},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        peak = PeakMemory(process.pid)
        output = []
        for line in process.stdout:
            output.append(line)
            self.stdout.write("  " + line.rstrip())
        status = process.wait()
        wall = time.perf_counter() - started
        match = SUMMARY.search("".join(output))
        if status != 0 or match is None:
            raise CommandError(f"send_mailing failed:\n{''.join(output)}")
        return Result(
            label=label,
            recipients=recipients,
            sent=int(match.group(1)),
            seconds=float(match.group(3)),
            wall_seconds=wall,
            peak_rss_mb=peak.stop(),
        )

    def _naive(self, env: dict, count: int) -> Result:
        self.stdout.write(
            f"\nnaive loop: send_mail() per recipient, new connection each, {count:,}:"
        )
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", NAIVE_LOOP, BENCH_OWNER, str(count)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            cwd=settings.BASE_DIR,
        )
        peak = PeakMemory(process.pid)
        out = process.stdout.read()
        if process.wait() != 0:
            raise CommandError(f"the naive loop failed: {out}")
        sent, seconds = out.split()
        return Result(
            label="naive send_mail() loop",
            recipients=count,
            sent=int(sent),
            seconds=float(seconds),
            wall_seconds=time.perf_counter() - started,
            peak_rss_mb=peak.stop(),
        )

    # -- report -------------------------------------------------------------------------------

    def _report(self, sink_name: str, results: list[Result]) -> None:
        bulk, per_message, small, naive = results
        self.stdout.write(f"\nSink: {sink_name} on loopback; {os.cpu_count()} cores.\n")
        # msg/s is the engine's own figure (its deliver() call); wall msg/s counts everything
        # the operator waits for: process start, Django set-up, enqueueing the run, the summary.
        self.stdout.write(
            f"{'scenario':<32} {'recipients':>10} {'msg/s':>8} {'wall msg/s':>10} "
            f"{'wall s':>8} {'peak RSS MB':>12}"
        )
        for result in results:
            self.stdout.write(
                f"{result.label:<32} {result.recipients:>10,} {result.rate:>8,.0f} "
                f"{result.wall_rate:>10,.0f} {result.wall_seconds:>8.1f} "
                f"{result.peak_rss_mb:>12.1f}"
            )
        self.stdout.write("")
        checks = [
            ("commit every 50: ≥ 1,500 msg/s", bulk.rate >= 1500),
            (
                f"commit every 50: ≥ 4x naive ({bulk.rate / naive.rate:.1f}x)",
                bulk.rate >= 4 * naive.rate,
            ),
            ("commit every message: ≥ 600 msg/s", per_message.rate >= 600),
            (
                f"peak RSS < 200 MB and flat with N ({small.peak_rss_mb:.0f} MB at "
                f"{small.recipients:,}, {bulk.peak_rss_mb:.0f} MB at {bulk.recipients:,})",
                max(bulk.peak_rss_mb, per_message.peak_rss_mb) < 200
                and bulk.peak_rss_mb < small.peak_rss_mb * 1.25,
            ),
        ]
        for text, ok in checks:
            self.stdout.write(f"  [{'ok' if ok else 'MISSED'}] {text}")
