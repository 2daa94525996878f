"""Dashboard benchmark: 10k recipients and 1M attempts in PostgreSQL, then the median and
p95 time of the dashboard and the attempts report, cold (caches dropped before every
request) and warm, with their query counts. `make bench-pages` sets up the database."""

import math
import statistics
import time
from collections.abc import Callable

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailing import cache, selectors
from mailing.management.progress import ProgressBar
from mailing.models import (
    Attempt,
    DailyStat,
    Delivery,
    Digest,
    Mailing,
    Message,
    Recipient,
    Run,
)
from users.models import User

OWNER = "bench-pages@example.com"
MANAGER = "bench-manager@example.com"
TARGET_MS = 100


class Command(BaseCommand):
    help = "Fill PostgreSQL with 10k recipients and 1M attempts and time the report pages."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--recipients", type=int, default=10_000)
        parser.add_argument("--attempts", type=int, default=1_000_000)
        parser.add_argument("--mailings", type=int, default=20)
        parser.add_argument("--requests", type=int, default=25, help="timed requests per page")
        parser.add_argument("--refill", action="store_true", help="rebuild the data set")

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "bench_pages measures PostgreSQL, not SQLite; run `make bench-pages` or point "
                "DATABASE_URL at a PostgreSQL database made for benchmarking."
            )
        if "bench" not in connection.settings_dict["NAME"]:
            # Refilling empties the campaign tables: never do that to a database that
            # might hold real data.
            raise CommandError(
                f"bench_pages replaces the campaign data of the database it runs on; "
                f"{connection.settings_dict['NAME']!r} is not named as a benchmark database "
                f"(its name must contain 'bench'). Run `make bench-pages`."
            )
        owner = self._fill(options)
        manager = User.objects.get(email=MANAGER)
        biggest = Mailing.objects.filter(owner=owner).order_by("pk").first()
        assert biggest is not None, "seed the bench data first"
        attempts = selectors.attempt_totals_for(user=owner).total
        last_page = max(1, math.ceil(attempts / selectors.PAGE_SIZE))
        pages: list[tuple[str, User, str, dict]] = [
            ("dashboard", owner, reverse("mailing:dashboard"), {}),
            ("attempts report", owner, reverse("mailing:attempt_list"), {}),
            (
                "attempts, filtered",
                owner,
                reverse("mailing:attempt_list"),
                {"mailing": biggest.pk, "status": "failure"},
            ),
            ("attempts, page 200", owner, reverse("mailing:attempt_list"), {"page": 200}),
            # The report's "Last" link: an OFFSET near the whole table if read from the top.
            ("attempts, last page", owner, reverse("mailing:attempt_list"), {"page": last_page}),
            ("mailing report", owner, reverse("mailing:mailing_detail", args=[biggest.pk]), {}),
            ("recipients, search", owner, reverse("mailing:recipient_list"), {"q": "r77"}),
            ("dashboard (manager)", manager, reverse("mailing:dashboard"), {}),
            ("attempts (manager)", manager, reverse("mailing:attempt_list"), {}),
        ]
        rows = []
        for label, user, url, query in pages:
            client = Client(HTTP_HOST="localhost")
            client.force_login(user)
            client.get(url, query)  # warm the connection, templates and per-user state

            def drop_caches(owner_id: int = user.pk) -> None:
                cache.bump(owner_id=owner_id)

            cold = self._time(drop_caches, client, url, query, options)
            warm = self._time(lambda: None, client, url, query, options)
            cold_queries = _queries(drop_caches, client, url, query)
            warm_queries = _queries(lambda: None, client, url, query)
            rows.append((label, cold, warm, cold_queries, warm_queries))
        self._report(rows, options)

    # -- data ---------------------------------------------------------------------------------

    def _fill(self, options) -> User:
        owner, _ = User.objects.get_or_create(email=OWNER)
        manager, _ = User.objects.get_or_create(email=MANAGER, defaults={"is_superuser": True})
        for account in (owner, manager):
            EmailAddress.objects.get_or_create(
                user=account, email=account.email, defaults={"verified": True, "primary": True}
            )
        have = (
            Recipient.objects.filter(owner=owner).count(),
            Attempt.objects.filter(mailing__owner=owner).count(),
        )
        if have == (options["recipients"], options["attempts"]) and not options["refill"]:
            self.stdout.write(
                f"Reusing the data set: {have[0]:,} recipients, {have[1]:,} attempts."
            )
            return owner
        self.stdout.write("Building the data set…")
        links = Mailing.recipients.through
        tables = ", ".join(
            model._meta.db_table
            for model in (
                Attempt,
                DailyStat,
                Delivery,
                Digest,
                Run,
                links,
                Mailing,
                Message,
                Recipient,
            )
        )
        # One transaction: an interrupted fill leaves the previous data set, never half of one.
        with transaction.atomic(), connection.cursor() as cursor:
            # Set-based: the ORM's delete() would walk a million attempts one by one
            # (Wagtail's reference index listens to every post_delete).
            cursor.execute(f"TRUNCATE {tables}")
            cursor.execute(
                "INSERT INTO mailing_recipient (owner_id, email, full_name, comment, created_at, "
                "updated_at) SELECT %s, 'r' || g || '@bench.example', 'Recipient ' || g, '', "
                "now(), now() FROM generate_series(1, %s) g",
                [owner.pk, options["recipients"]],
            )
            cursor.execute(
                "INSERT INTO mailing_message (owner_id, subject, body, created_at, updated_at) "
                "SELECT %s, 'Newsletter ' || g, 'Hello!', now(), now() "
                "FROM generate_series(1, %s) g",
                [owner.pk, options["mailings"]],
            )
            cursor.execute(
                "INSERT INTO mailing_mailing (owner_id, message_id, first_send_at, end_at, "
                "periodicity, status, schedule_anchor, is_disabled, created_at, updated_at) "
                "SELECT %s, id, now() - interval '60 days', now() + interval '300 days', "
                "'daily', 'launched', now() - interval '60 days', false, now(), now() "
                "FROM mailing_message WHERE owner_id = %s",
                [owner.pk, owner.pk],
            )
            cursor.execute(
                "INSERT INTO mailing_mailing_recipients (mailing_id, recipient_id) "
                "SELECT m.id, r.id FROM mailing_mailing m JOIN mailing_recipient r "
                "ON r.owner_id = m.owner_id AND r.id %% %s = m.id %% %s WHERE m.owner_id = %s",
                [options["mailings"], options["mailings"], owner.pk],
            )
            mailing_ids = list(
                Mailing.objects.filter(owner=owner).order_by("pk").values_list("pk", flat=True)
            )
            recipient_ids = list(
                Recipient.objects.filter(owner=owner).order_by("pk").values_list("pk", flat=True)
            )
            bar = ProgressBar(total=options["attempts"], stream=self.stdout, label="attempts")
            step = 100_000
            for start in range(0, options["attempts"], step):
                stop = min(start + step, options["attempts"])
                # Spread over the mailings, the recipients and the last 60 days; 7% fail.
                cursor.execute(
                    "INSERT INTO mailing_attempt (mailing_id, recipient_id, email, attempted_at, "
                    "status, server_response) SELECT "
                    "(%s::bigint[])[1 + g %% %s], (%s::bigint[])[1 + g %% %s], "
                    "'r' || (1 + g %% %s) || '@bench.example', "
                    "now() - (g %% 86400) * interval '1 minute', "
                    "CASE WHEN g %% 14 = 0 THEN 'failure' ELSE 'success' END, "
                    "CASE WHEN g %% 14 = 0 THEN '550 5.1.1 Mailbox unavailable' "
                    "ELSE '250 2.0.0 Ok: queued' END "
                    "FROM generate_series(%s, %s) g",
                    [
                        mailing_ids,
                        len(mailing_ids),
                        recipient_ids,
                        len(recipient_ids),
                        len(recipient_ids),
                        start + 1,
                        stop,
                    ],
                )
                if stop < options["attempts"]:
                    bar.update(stop)
            bar.finish(options["attempts"])
            # The rollup the engine keeps in step with every commit, rebuilt here in one go.
            cursor.execute(
                "INSERT INTO mailing_dailystat (mailing_id, day, successes, failures) "
                "SELECT a.mailing_id, (a.attempted_at AT TIME ZONE %s)::date, "
                "count(*) FILTER (WHERE a.status = 'success'), "
                "count(*) FILTER (WHERE a.status = 'failure') "
                "FROM mailing_attempt a JOIN mailing_mailing m ON m.id = a.mailing_id "
                "WHERE m.owner_id = %s GROUP BY 1, 2",
                # Days in the site's time zone, as the engine counts them (timezone.localdate).
                [timezone.get_current_timezone_name(), owner.pk],
            )
        with connection.cursor() as cursor:
            # What autovacuum would soon do on a live database: planner statistics, and the
            # visibility map that index-only scans rely on (VACUUM runs outside transactions).
            cursor.execute(f"VACUUM ANALYZE {tables}")
        return owner

    # -- timing -------------------------------------------------------------------------------

    def _time(
        self, before: Callable[[], None], client: Client, url: str, query: dict, options
    ) -> list[float]:
        times = []
        for _ in range(options["requests"]):
            before()
            started = time.perf_counter()
            response = client.get(url, query)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise CommandError(f"{url} answered {response.status_code}")
        return times

    def _report(self, rows, options) -> None:
        self.stdout.write(
            f"\n{options['recipients']:,} recipients, {options['attempts']:,} attempts; "
            f"{options['requests']} requests per page; times in ms.\n"
        )
        self.stdout.write(
            f"{'page':<22} {'cold p50':>9} {'cold p95':>9} {'warm p50':>9} {'warm p95':>9} "
            f"{'queries cold/warm':>18}"
        )
        for label, cold, warm, cold_queries, warm_queries in rows:
            self.stdout.write(
                f"{label:<22} {statistics.median(cold):>9.1f} {_p95(cold):>9.1f} "
                f"{statistics.median(warm):>9.1f} {_p95(warm):>9.1f} "
                f"{f'{cold_queries}/{warm_queries}':>18}"
            )
        worst = max(statistics.median(row[1]) for row in rows)
        verdict = "ok" if worst < TARGET_MS else "MISSED"
        self.stdout.write(
            f"\n  [{verdict}] every page under {TARGET_MS} ms cold (worst {worst:.1f})"
        )


def _queries(before: Callable[[], None], client: Client, url: str, query: dict) -> int:
    before()
    with CaptureQueriesContext(connection) as captured:
        client.get(url, query)
    return len(captured)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
