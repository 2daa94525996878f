"""Delivery benchmark: the engine beside the wire's limit and a naive loop, on one sink and one
database, in one run.

Every scenario is a child process measured whole (start-up included) against a fresh postfix
`smtp-sink`, which counts what arrived: wall msg/s is that count over the child's wall clock.
The scenarios: `send_mailing` with grouped commits (MAILING_COMMIT_EVERY=50) and with a commit
per message (the default), `run_senders --once` with one and with two processes, postfix's
`smtp-source -s 4` sending the engine's own message (4 sessions, connections kept: what the wire
takes here), a naive loop of Django's `send_mail()`, and `send_mailing` and `run_senders` with
two processes once more with DKIM signing on (every message carries its List-Unsubscribe
headers and footer in all of them). Then each target, MET or NOT MET.
Needs PostgreSQL (`make bench-send` sets it up; the database's data is replaced).
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from mailing import delivery
from mailing.content import RecipientContext
from mailing.content.plain import PlainMessage
from mailing.management.bench_tools import PeakMemory, Sink, postfix_binary
from mailing.management.progress import ProgressBar
from mailing.models import Mailing, Message
from users.models import User

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")
BENCH_OWNER = "bench-send@example.com"
SUBJECT = "Benchmark"
BODY = "Hello,\n\nThis is the delivery benchmark. Nothing to see here.\n\nThe team"
SUMMARY = re.compile(r"Sent (\d+), failed (\d+).* in ([\d.]+) s \(([\d,]+) msg/s\)")
STARTED = "Started a new run"

NAIVE_LOOP = """
import django, sys
django.setup()
from django.core.mail import send_mail
from mailing.models import Recipient
emails = list(Recipient.objects.filter(owner__email=sys.argv[1]).values_list("email", flat=True)[: int(sys.argv[2])])
for email in emails:
    send_mail(sys.argv[3], sys.argv[4], None, [email])  # a new connection each
"""

# The targets, on this 2-core machine.
BATCHED_WALL = 5000  # msg/s, whole process, 100,000 recipients, MAILING_COMMIT_EVERY=50
SHARE_OF_WIRE = 1 / 3  # of smtp-source -s 4
PER_MESSAGE_WALL = 650  # msg/s, a commit per message
START_SECONDS = 1.5  # start-up plus run creation, 100,000 recipients
RSS_MB = 150
SIGNED_WALL = 1000  # msg/s, DKIM signing on, 100,000 recipients


@dataclass
class Result:
    label: str
    delivered: int  # what the sink counted
    wall_seconds: float
    peak_rss_mb: float
    send_rate: float | None = None  # the engine's own figure (its sending only)
    start_seconds: float | None = None  # spawn to "Started a new run"

    @property
    def wall_rate(self) -> float:
        return self.delivered / self.wall_seconds if self.wall_seconds else 0.0


class Command(BaseCommand):
    help = "Benchmark the delivery engine beside smtp-source and a naive loop (PostgreSQL)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--recipients", type=int, default=100_000)
        parser.add_argument(
            "--per-message", type=int, default=50_000, help="recipients, commit per message"
        )
        parser.add_argument("--small", type=int, default=10_000, help="size for the RSS check")
        parser.add_argument("--naive", type=int, default=5_000, help="recipients, naive loop")
        parser.add_argument("--connections", type=int, default=None)

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "bench_send measures PostgreSQL; run `make bench-send` or set DATABASE_URL "
                "to a PostgreSQL database made for benchmarking (its data is replaced)."
            )
        if postfix_binary("smtp-source") is None:
            raise CommandError("postfix's smtp-source is missing: run scripts/ensure-smtp-sink.sh.")
        n = options["recipients"]
        self._run_creation = 0.0
        self._message_bytes = 0
        owner = self._fill(max(n, options["per_message"], options["small"], options["naive"]))
        env = _sender_env(options["connections"])
        runs = [
            self._wire(owner, n),
            self._send_mailing(owner, env, n, "engine, commit every 50", "50"),
            self._send_mailing(
                owner, env, options["per_message"], "engine, commit every message", "1"
            ),
            self._send_mailing(owner, env, options["small"], "engine, commit every 50", "50"),
            self._run_senders(owner, env, n, processes=1),
            self._run_senders(owner, env, n, processes=2),
            self._naive(env, options["naive"]),
            # Every message carries its unsubscribe headers and footer; these sign them too.
            self._send_mailing(
                owner, _signed(env), n, "engine, commit every 50, DKIM signed", "50"
            ),
            self._run_senders(owner, _signed(env), n, processes=2, signed=True),
        ]
        self._report(runs, run_creation=self._run_creation)

    # -- set-up -----------------------------------------------------------------------------

    def _fill(self, count: int) -> User:
        self.stdout.write(f"Preparing {count:,} recipients…")
        with connection.cursor() as cursor:
            # A benchmark database: start from nothing (a cascade through the ORM would take
            # longer than the benchmark).
            cursor.execute(
                "TRUNCATE mailing_attempt, mailing_dailystat, mailing_delivery, mailing_run, "
                "mailing_mailing_recipients, mailing_mailing, mailing_message, mailing_recipient"
            )
        owner, _ = User.objects.get_or_create(email=BENCH_OWNER)
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
            # never analysed looks a tenth of its size to the planner.
            cursor.execute("ANALYZE mailing_recipient")
        bar.finish(count)
        return owner

    def _mailing(self, owner: User, recipients: int) -> Mailing:
        message = Message.objects.create(owner=owner, subject=SUBJECT, body=BODY)
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
            cursor.execute("ANALYZE mailing_mailing_recipients")
        return mailing

    # -- scenarios ----------------------------------------------------------------------------

    def _child(self, label: str, title: str, command: list[str], env: dict[str, str]) -> Result:
        """Run `command` ("{port}" in it: the sink's) against a fresh sink, timed whole."""
        self.stdout.write(f"\n{title}:")
        sink = Sink()
        command = [part.replace("{port}", str(sink.port)) for part in command]
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            env={**env, "EMAIL_PORT": str(sink.port)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=settings.BASE_DIR,
        )
        peak = PeakMemory(process.pid)
        output, start_seconds = [], None
        assert process.stdout is not None
        for line in process.stdout:
            if start_seconds is None and line.startswith(STARTED):
                start_seconds = time.perf_counter() - started
            output.append(line)
            if not line.startswith(("sending [", "recipients [")):
                self.stdout.write("  " + line.rstrip())
        status = process.wait()
        wall = time.perf_counter() - started
        rss = peak.stop()
        delivered = sink.stop()
        if status != 0:
            raise CommandError(f"{label} failed ({status}):\n{''.join(output)}")
        match = SUMMARY.search("".join(output))
        return Result(
            label=label,
            delivered=delivered,
            wall_seconds=wall,
            peak_rss_mb=rss,
            send_rate=float(match.group(4).replace(",", "")) if match else None,
            start_seconds=start_seconds,
        )

    def _send_mailing(
        self, owner: User, env: dict, recipients: int, label: str, commit_every: str
    ) -> Result:
        mailing = self._mailing(owner, recipients)
        return self._child(
            label,
            f"{label}, {recipients:,} recipients (send_mailing)",
            [sys.executable, MANAGE, "send_mailing", str(mailing.pk)],
            {**env, "MAILING_COMMIT_EVERY": commit_every},
        )

    def _run_senders(
        self, owner: User, env: dict, recipients: int, *, processes: int, signed: bool = False
    ) -> Result:
        mailing = self._mailing(owner, recipients)
        started = time.perf_counter()
        delivery.start_run(mailing=mailing)  # the scheduler's part, timed on its own
        self._run_creation = time.perf_counter() - started
        label = f"run_senders, {processes} process{'es' if processes > 1 else ''}, every 50"
        if signed:
            label += ", signed"
        return self._child(
            label,
            f"{label}, {recipients:,} recipients (run created beforehand)",
            [sys.executable, MANAGE, "run_senders", "--once", "--processes", str(processes)],
            {**env, "MAILING_COMMIT_EVERY": "50"},
        )

    def _wire(self, owner: User, count: int) -> Result:
        """postfix's smtp-source: 4 sessions, connections kept, the engine's message."""
        message = PlainMessage(
            subject=SUBJECT,
            body=BODY,
            from_email=settings.DEFAULT_FROM_EMAIL,
            reply_to=owner.email,
            run_id=1,
        )
        data = message.render(RecipientContext("r1@bench.example", "Recipient 1", 1, 1))
        self._message_bytes = len(data)
        # smtp-source adds the CRLFs and the dot-stuffing itself.
        text = data.replace(b"\r\n..", b"\r\n.").replace(b"\r\n", b"\n")
        with tempfile.NamedTemporaryFile(suffix=".eml", delete=False) as file:
            file.write(text)
        try:
            return self._child(
                "postfix smtp-source -s 4",
                f"postfix smtp-source, 4 sessions, connections kept, {count:,} messages",
                [
                    postfix_binary("smtp-source") or "smtp-source",
                    "-s", "4", "-d", "-m", str(count), "-F", file.name,
                    "-f", message.envelope_sender, "-t", "r1@bench.example",
                    "127.0.0.1:{port}",
                ],
                {},
            )  # fmt: skip
        finally:
            os.unlink(file.name)

    def _naive(self, env: dict, count: int) -> Result:
        return self._child(
            "naive send_mail() loop",
            f"naive loop: send_mail() per recipient, a new connection each, {count:,}",
            [sys.executable, "-c", NAIVE_LOOP, BENCH_OWNER, str(count), SUBJECT, BODY],
            env,
        )

    # -- report -------------------------------------------------------------------------------

    def _report(self, results: list[Result], *, run_creation: float) -> None:
        wire, bulk, per_message, small, one, two, naive, signed, signed_two = results
        self.stdout.write(
            f"\nSink: postfix smtp-sink on loopback; {os.cpu_count()} cores; PostgreSQL; a "
            f"{self._message_bytes}-byte message. wall msg/s = messages the sink counted / the "
            "process's whole wall clock (start-up included); send msg/s = the engine's own "
            "figure (its sending only).\n"
        )
        self.stdout.write(
            f"{'scenario':<46} {'messages':>9} {'wall s':>7} {'wall msg/s':>10} "
            f"{'send msg/s':>10} {'/ wire':>7} {'/ naive':>7} {'peak RSS MB':>11}"
        )
        for result in results:
            send = f"{result.send_rate:,.0f}" if result.send_rate else "—"
            self.stdout.write(
                f"{result.label:<46} {result.delivered:>9,} "
                f"{result.wall_seconds:>7.1f} {result.wall_rate:>10,.0f} {send:>10} "
                f"{result.wall_rate / wire.wall_rate:>7.2f} "
                f"{result.wall_rate / naive.wall_rate:>7.1f} {result.peak_rss_mb:>11.1f}"
            )
        start = bulk.start_seconds or float("inf")
        self.stdout.write(
            f"\nStart-up plus run creation, {bulk.delivered:,} recipients: {start:.2f} s from "
            f"the process's start to its first message (creating the run alone, in-process: "
            f"{run_creation:.2f} s). run_senders with 2 processes: "
            f"{two.wall_rate / one.wall_rate:.2f} times one process."
        )
        self.stdout.write(
            f"Throttle seam (the default: no caps set): {_throttle_cost_ns():.0f} ns a message."
        )
        self.stdout.write(
            f"DKIM signing: send_mailing signed at {signed.wall_rate / bulk.wall_rate:.2f} times "
            f"the unsigned rate; run_senders with 2 processes signed at "
            f"{signed_two.wall_rate / two.wall_rate:.2f} times unsigned.\n"
        )
        checks = [
            (
                f"commit every 50, {bulk.delivered:,} recipients: ≥ {BATCHED_WALL:,} msg/s wall "
                f"({bulk.wall_rate:,.0f})",
                bulk.wall_rate >= BATCHED_WALL,
            ),
            (
                f"commit every 50: ≥ one third of smtp-source -s 4 "
                f"({bulk.wall_rate / wire.wall_rate:.0%} of {wire.wall_rate:,.0f})",
                bulk.wall_rate >= SHARE_OF_WIRE * wire.wall_rate,
            ),
            (
                f"commit every message: ≥ {PER_MESSAGE_WALL} msg/s wall ({per_message.wall_rate:,.0f})",
                per_message.wall_rate >= PER_MESSAGE_WALL,
            ),
            (
                f"DKIM signed, run_senders 2 processes: ≥ {SIGNED_WALL:,} msg/s wall "
                f"({signed_two.wall_rate:,.0f})",
                signed_two.wall_rate >= SIGNED_WALL,
            ),
            (
                f"start-up plus run creation, {bulk.delivered:,} recipients: < {START_SECONDS} s "
                f"({start:.2f} s)",
                start < START_SECONDS,
            ),
            (
                f"peak RSS < {RSS_MB} MB and flat with N ({small.peak_rss_mb:.0f} MB at "
                f"{small.delivered:,}, {bulk.peak_rss_mb:.0f} MB at {bulk.delivered:,})",
                max(bulk.peak_rss_mb, per_message.peak_rss_mb) < RSS_MB
                and bulk.peak_rss_mb < small.peak_rss_mb * 1.25,
            ),
        ]
        for text, ok in checks:
            self.stdout.write(f"  [{'MET' if ok else 'NOT MET'}] {text}")


def _sender_env(connections: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DEBUG": "false",  # no query log: measure what production runs
            "EMAIL_HOST": "127.0.0.1",
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
    if connections:
        env["MAILING_SENDER_CONNECTIONS"] = str(connections)
    return env


_KEY_FILE: list[str] = []


def _signed(env: dict[str, str]) -> dict[str, str]:
    """`env` with DKIM signing on, with a fresh RSA-2048 key (written once per benchmark)."""
    if not _KEY_FILE:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with tempfile.NamedTemporaryFile(suffix=".pem", delete=False) as file:
            file.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        _KEY_FILE.append(file.name)
    return {
        **env,
        "DKIM_DOMAIN": "bench.example",
        "DKIM_SELECTOR": "bench",
        "DKIM_PRIVATE_KEY": _KEY_FILE[0],
    }


def _throttle_cost_ns() -> float:
    """What the throttle seam costs the sender per message: one call of the default throttle."""
    reserve = delivery.Policy.from_settings().throttle.reserve
    claim = object()
    rounds = 1_000_000
    started = time.perf_counter()
    for _ in range(rounds):
        reserve(claim)
    return (time.perf_counter() - started) / rounds * 1e9
