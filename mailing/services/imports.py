"""Importing recipients from a CSV file: a preview of what it would do, then the import.

Both steps run the same pass (`recipients_import`): rows read one at a time
(`mailing.importing`), checked and looked up in chunks of `CHUNK` (one query for the owner's
recipients with those addresses, one for their suppressions), so memory stays flat in the
number of rows. A row is *created* (an address the owner does not have), *updated* (one they
have, whose name or comment the file changes), *unchanged*, or *rejected* with its line number
and the reason: a bad address or name, an address already on an earlier line, or a suppressed
address (unsubscribed or bounced: importing it must not undo that).

With `commit=True` everything is written in one transaction, in bulk, chunk by chunk: a file
that turns out unreadable halfway (not UTF-8 at line 80,000) changes nothing. Between the two
steps the uploaded file is kept under VAR_DIR/imports and named by a signed token
(`stash_upload`, `open_stash`), so nothing large sits in the session.
"""

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import EmailValidator
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext

from core.roles import ensure_can_write
from users.models import User

from .. import cache
from ..importing import ImportFileError, Row, check_size, read_rows
from ..models import Recipient, RecipientList, Suppression
from ..validators import validate_name
from .lists import add_members

logger = logging.getLogger("mailing.services")

CHUNK = 2000
KEEP_REJECTED = 1000  # rows of each kind a report keeps for showing; all are counted
KEEP_SAMPLE = 20
STASH_MAX_AGE = 6 * 3600
_SALT = "mailing.import"
_email = EmailValidator()


@dataclass(frozen=True)
class Rejection:
    number: int
    email: str
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected_count: int = 0
    added_to_list: int = 0
    committed: bool = False
    rejected: list[Rejection] = field(default_factory=list)
    created_sample: list[Row] = field(default_factory=list)
    updated_sample: list[Row] = field(default_factory=list)

    def reject(self, row: Row, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < KEEP_REJECTED:
            self.rejected.append(Rejection(row.number, row.email, reason))

    @property
    def more_rejected(self) -> int:
        return self.rejected_count - len(self.rejected)


def recipients_import(
    *,
    owner: User,
    file: IO[bytes],
    recipient_list: RecipientList | None = None,
    commit: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Read `file` (binary, seekable) as `owner`'s recipients and report what importing it
    does; with `commit`, do it, in one transaction, and put every accepted row's recipient in
    `recipient_list` (confirmed: the owner answers for their consent).

    Raises PermissionDenied when `owner` may not write (or the list is not theirs),
    `ImportFileError` for a file that is not such a CSV (nothing is written then)."""
    ensure_can_write(owner)
    if recipient_list is not None:
        ensure_can_write(owner, recipient_list)
    report = ImportReport(committed=commit)
    if not commit:
        _run(owner=owner, rows=read_rows(file), report=report, write=None, progress=progress)
        return report
    started = time.monotonic()
    with transaction.atomic():
        writer = _Writer(owner=owner, recipient_list=recipient_list, report=report)
        _run(owner=owner, rows=read_rows(file), report=report, write=writer, progress=progress)
    cache.bump(owner_id=owner.pk)
    logger.info(
        "recipient.imported",
        extra={
            "user_id": owner.pk,
            "rows": report.rows,
            "rows_created": report.created,
            "rows_updated": report.updated,
            "rows_rejected": report.rejected_count,
            "list_id": getattr(recipient_list, "pk", None),
            "seconds": round(time.monotonic() - started, 2),
        },
    )
    return report


def _chunks(rows: Iterator[Row]) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _problem(row: Row) -> str | None:
    """Why the row cannot be a recipient, or None."""
    if not row.email:
        return gettext("no address")
    if len(row.email) > 254:
        return gettext("the address is longer than 254 characters")
    try:
        _email(row.email)
    except ValidationError:
        return gettext("not a valid email address")
    if row.full_name is not None:
        if len(row.full_name) > 200:
            return gettext("the name is longer than 200 characters")
        try:
            validate_name(row.full_name)
        except ValidationError:
            return gettext("the name must be a single line of plain text")
    return None


def _run(
    *,
    owner: User,
    rows: Iterator[Row],
    report: ImportReport,
    write: "_Writer | None",
    progress: Callable[[int], None] | None,
) -> None:
    seen: dict[str, int] = {}  # address (lower case) -> the line it was first on
    suppressed_text = {
        Suppression.Reason.UNSUBSCRIBED: gettext("suppressed: the person unsubscribed"),
        Suppression.Reason.BOUNCED: gettext("suppressed: mail to it bounced"),
    }
    for chunk in _chunks(rows):
        accepted: dict[str, Row] = {}
        for row in chunk:
            report.rows += 1
            problem = _problem(row)
            if problem is not None:
                report.reject(row, problem)
                continue
            key = row.email.lower()
            if key in seen:
                report.reject(
                    row, gettext("the same address as line %(line)s") % {"line": seen[key]}
                )
                continue
            seen[key] = row.number
            accepted[key] = row
        keys = list(accepted)
        suppressed = dict(
            Suppression.objects.filter(owner=owner)
            .alias(key=Lower("email"))
            .filter(key__in=keys)
            .annotate(found=Lower("email"))
            .values_list("found", "reason")
        )
        existing = {
            found: (pk, name, comment)
            for found, pk, name, comment in Recipient.objects.filter(owner=owner)
            .alias(key=Lower("email"))
            .filter(key__in=keys)
            .annotate(found=Lower("email"))
            .values_list("found", "pk", "full_name", "comment")
        }
        new: list[Recipient] = []
        changed: list[Recipient] = []
        kept_ids: list[int] = []
        for key, row in accepted.items():
            if key in suppressed:
                report.reject(row, suppressed_text.get(suppressed[key], gettext("suppressed")))
                continue
            if key not in existing:
                report.created += 1
                if len(report.created_sample) < KEEP_SAMPLE:
                    report.created_sample.append(row)
                new.append(
                    Recipient(
                        owner=owner,
                        email=row.email,
                        full_name=row.full_name or "",
                        comment=row.comment or "",
                    )
                )
                continue
            pk, name, comment = existing[key]
            new_name = row.full_name or name
            new_comment = row.comment or comment
            if (new_name, new_comment) != (name, comment):
                report.updated += 1
                if len(report.updated_sample) < KEEP_SAMPLE:
                    report.updated_sample.append(row)
                changed.append(
                    Recipient(pk=pk, owner=owner, full_name=new_name, comment=new_comment)
                )
            else:
                report.unchanged += 1
            kept_ids.append(pk)
        if write is not None:
            write(new=new, changed=changed, kept_ids=kept_ids)
        if progress is not None:
            progress(report.rows)


class _Writer:
    """The writes of one chunk: new recipients in bulk, changed ones in bulk, memberships."""

    def __init__(
        self, *, owner: User, recipient_list: RecipientList | None, report: ImportReport
    ) -> None:
        self.owner = owner
        self.recipient_list = recipient_list
        self.report = report
        self.now = timezone.now()

    def __call__(self, *, new: list[Recipient], changed: list[Recipient], kept_ids: list[int]):
        for recipient in [*new, *changed]:
            recipient.created_at = recipient.updated_at = self.now
        created = Recipient.objects.bulk_create(new, batch_size=CHUNK)
        if changed:
            Recipient.objects.bulk_update(
                changed, ["full_name", "comment", "updated_at"], batch_size=CHUNK
            )
        if self.recipient_list is not None:
            ids = [recipient.pk for recipient in created if recipient.pk is not None]
            if len(ids) < len(created):
                # A database that does not return the new keys (not PostgreSQL or SQLite).
                keys = [recipient.email.lower() for recipient in created]
                ids = list(
                    Recipient.objects.filter(owner=self.owner)
                    .alias(key=Lower("email"))
                    .filter(key__in=keys)
                    .values_list("pk", flat=True)
                )
            self.report.added_to_list += add_members(
                recipient_list=self.recipient_list,
                recipient_ids=[*ids, *kept_ids],
                source="import",
            )


# --- Keeping the upload between the preview and the import -----------------------------------


def _stash_dir() -> Path:
    path = Path(settings.VAR_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def stash_upload(*, owner: User, upload: UploadedFile, list_id: int | None) -> "Stash":
    """Keep an uploaded file for its import, named by a signed token (good for this owner
    only). Refuses a file over MAILING_IMPORT_MAX_BYTES before storing it. Files older
    than the token's lifetime are removed on the way."""
    check_size(upload.size or 0)
    directory = _stash_dir()
    cutoff = time.time() - STASH_MAX_AGE
    for old in directory.glob("*.csv"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    name = f"{uuid.uuid4().hex}.csv"
    with (directory / name).open("wb") as out:
        for piece in upload.chunks():
            out.write(piece)
    token = signing.dumps({"o": owner.pk, "f": name, "l": list_id}, salt=_SALT)
    return Stash(path=directory / name, list_id=list_id, token=token)


@dataclass(frozen=True)
class Stash:
    path: Path
    list_id: int | None
    token: str


def open_stash(*, owner: User, token: str) -> Stash:
    """The file and target list a token names; ImportFileError when it is not this owner's,
    forged, or too old."""
    try:
        data = signing.loads(token, salt=_SALT, max_age=STASH_MAX_AGE)
    except signing.BadSignature:
        raise ImportFileError(gettext("This upload has expired; choose the file again.")) from None
    path = _stash_dir() / str(data.get("f", ""))
    if data.get("o") != owner.pk or not path.is_file() or path.parent != _stash_dir():
        raise ImportFileError(gettext("This upload has expired; choose the file again."))
    return Stash(path=path, list_id=data.get("l"), token=token)


def drop_stash(stash: Stash) -> None:
    stash.path.unlink(missing_ok=True)
