"""`make bench-import`: how fast the CSV import checks (preview) and imports (confirm) a file
of 100,000 recipients, and the process's peak memory.

A throwaway owner is created (and removed first if an earlier run left it); the file is
written to a temporary directory with names, comments and a share of rows the import rejects
(bad addresses, repeats), so every branch of the checks runs. The import puts every row in a
list, as the dashboard does when one is chosen. Prints rows/s for each step, the peak RSS
(ru_maxrss) and whether 100,000 rows import in under 10 s (MET / NOT MET).
"""

import os
import random
import resource
import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from mailing.models import Membership, Recipient, RecipientList
from mailing.services import imports, list_create
from users.models import User

OWNER = "bench-import@example.com"
TARGET_SECONDS = 10.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def drop(owner: User) -> None:
    """Remove the bench owner's rows with plain DELETEs: the ORM's cascade would collect
    200,000 objects first, which takes minutes."""
    qn = connection.ops.quote_name
    membership, lists = qn(Membership._meta.db_table), qn(RecipientList._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {membership} WHERE list_id IN "
            f"(SELECT id FROM {lists} WHERE owner_id = %s)",
            [owner.pk],
        )
        cursor.execute(
            f"DELETE FROM {qn(Recipient._meta.db_table)} WHERE owner_id = %s", [owner.pk]
        )
    owner.delete()


class Command(BaseCommand):
    help = "Measure the CSV import of recipients: rows/s for the preview and the import."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--keep", action="store_true", help="leave the owner's rows behind")

    def handle(self, *args, rows: int, keep: bool, **options) -> None:
        for old in User.objects.filter(email=OWNER):
            drop(old)
        owner = User.objects.create_user(email=OWNER, password=None)
        target = list_create(owner=owner, name="Bench")
        random.seed(1)
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "recipients.csv"
            with path.open("w", encoding="utf-8", newline="") as out:
                out.write("\ufeffEmail;Имя;Комментарий;Other\n")
                for i in range(rows):
                    if i % 1000 == 999:
                        out.write(f"not-an-address-{i};Bad;;x\n")
                    elif i % 1000 == 998:
                        out.write(f"Person{i - 1}@Example.org;Repeat;;x\n")
                    else:
                        out.write(
                            f"person{i}@example.org;Person {i};note {random.random():.6f};x\n"
                        )
            size = path.stat().st_size
            self.stdout.write(
                f"File: {rows:,} rows, {size / 1e6:.1f} MB; RSS {peak_rss_mb():.0f} MB"
            )

            with path.open("rb") as file:
                started, cpu = time.perf_counter(), time.process_time()
                preview = imports.recipients_import(owner=owner, file=file, recipient_list=target)
                preview_s = time.perf_counter() - started
                preview_cpu = time.process_time() - cpu
            self.stdout.write(
                f"Preview: {preview_s:.2f} s ({preview_cpu:.2f} s CPU here), "
                f"{rows / preview_s:,.0f} rows/s "
                f"({preview.created:,} new, {preview.rejected_count:,} rejected); "
                f"peak RSS {peak_rss_mb():.0f} MB"
            )
            with path.open("rb") as file:
                started, cpu = time.perf_counter(), time.process_time()
                done = imports.recipients_import(
                    owner=owner, file=file, recipient_list=target, commit=True
                )
                confirm_s = time.perf_counter() - started
                confirm_cpu = time.process_time() - cpu
            self.stdout.write(
                f"Import:  {confirm_s:.2f} s ({confirm_cpu:.2f} s CPU here), "
                f"{rows / confirm_s:,.0f} rows/s "
                f"({done.created:,} created, {done.added_to_list:,} list members); "
                f"peak RSS {peak_rss_mb():.0f} MB"
            )
            with path.open("rb") as file:
                started = time.perf_counter()
                again = imports.recipients_import(owner=owner, file=file, commit=True)
                again_s = time.perf_counter() - started
            self.stdout.write(
                f"Re-import of the same file: {again_s:.2f} s, {rows / again_s:,.0f} rows/s "
                f"({again.unchanged:,} unchanged)"
            )
        assert Recipient.objects.filter(owner=owner).count() == done.created
        assert RecipientList.objects.get(pk=target.pk).members.count() == done.created
        worst = max(preview_s, confirm_s)
        verdict = "MET" if worst < TARGET_SECONDS else "NOT MET"
        load = os.getloadavg()[0]
        self.stdout.write(
            f"Load average {load:.1f} on {os.cpu_count()} CPUs (the database shares them)."
        )
        self.stdout.write(
            f"{rows:,} rows, preview {preview_s:.1f} s + import {confirm_s:.1f} s, each under "
            f"{TARGET_SECONDS:.0f} s: {verdict}; peak RSS {peak_rss_mb():.0f} MB"
        )
        if not keep:
            drop(owner)
