"""`manage.py import_recipients --owner EMAIL [--list NAME] [--dry-run] FILE`: the dashboard's
CSV import from the command line, for files too large to upload or scripted imports.

Checks and imports every row in one pass and one transaction (with a progress bar);
`--dry-run` only checks, as the dashboard's preview does. Prints the counts and each rejected row with its line number
and reason. Exits 1 (with the reason, nothing changed) for an unknown owner, an owner who may
not write, or a file that is not such a CSV (too large, not UTF-8, no `email` column).
"""

from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models.functions import Lower

from mailing.importing import ImportFileError
from mailing.management.progress import ProgressBar
from mailing.models import RecipientList
from mailing.services import imports, list_create
from users.models import User


def count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as file:
        while piece := file.read(1 << 20):
            lines += piece.count(b"\n")
    return max(lines, 1)


class Command(BaseCommand):
    help = "Import recipients from a CSV file (email, optional full_name and comment columns)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the CSV file (UTF-8, comma or semicolon)")
        parser.add_argument("--owner", required=True, help="the email of the recipients' owner")
        parser.add_argument(
            "--list",
            dest="list_name",
            help="put every imported recipient in this list "
            "(created when the owner has none of that name)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="only report what the import would do"
        )

    def handle(
        self, *args, file: Path, owner: str, list_name: str | None, dry_run: bool, **options
    ):
        user = User.objects.filter(email__iexact=owner.strip()).first()
        if user is None:
            raise CommandError(f"No user with the email {owner!r}.")
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        total = max(count_lines(file) - 1, 1)
        recipient_list: RecipientList | None = None
        created_list = False
        if list_name:
            recipient_list = (
                RecipientList.objects.filter(owner=user)
                .alias(key=Lower("name"))
                .filter(key=list_name.strip().lower())
                .first()
            )
        label = "Checking" if dry_run else "Importing"
        bar = ProgressBar(total=total, stream=self.stdout, label=label)
        try:
            # One transaction: a file found unreadable halfway leaves no list and no row.
            with transaction.atomic(), file.open("rb") as stream:
                if list_name and recipient_list is None and not dry_run:
                    recipient_list = list_create(owner=user, name=list_name)
                    created_list = True
                report = imports.recipients_import(
                    owner=user,
                    file=stream,
                    recipient_list=recipient_list,
                    commit=not dry_run,
                    progress=bar.update,
                )
            bar.finish(report.rows)
        except (ImportFileError, PermissionDenied, ValidationError) as error:
            self.stdout.write("")
            message = " ".join(error.messages) if isinstance(error, ValidationError) else error
            raise CommandError(f"{message} Nothing was imported.") from None

        verb = "Would import" if dry_run else "Imported"
        self.stdout.write(
            f"{verb} {report.rows} rows: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.rejected_count} rejected."
        )
        if recipient_list is not None and not dry_run:
            made = " (new list)" if created_list else ""
            self.stdout.write(
                f"List {recipient_list.name!r}{made}: {report.added_to_list} new members."
            )
        for rejection in report.rejected:
            self.stdout.write(f"  line {rejection.number}: {rejection.email!r}: {rejection.reason}")
        if report.more_rejected:
            self.stdout.write(f"  … and {report.more_rejected} more rejected rows.")
