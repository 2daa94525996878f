"""Everything the service holds about a person, as one ZIP they can take away.

`write_personal_data` writes the archive into a file the caller gives (the view passes a
temporary file and streams it back): `profile.json` (the account, its addresses, the avatar's
name), the avatar itself under `avatar/`, and one CSV per table of what they own (recipients,
messages, mailings and their recipients, attempts, suppressions, and any other owned table of
the campaigns app, lists included). Rows are read in chunks through a server-side cursor and
written straight into the archive, so memory stays flat however many rows there are.
"""

import csv
import io
import json
import logging
import zipfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from allauth.account.models import EmailAddress
from django.apps import apps
from django.db.models import Model, QuerySet
from django.utils import timezone

from mailing.models import Attempt, Mailing, Message, Recipient, Suppression

from .models import User

logger = logging.getLogger(__name__)

CHUNK = 2000
PROFILE_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "phone",
    "language",
    "time_zone",
    "date_joined",
    "last_login",
    "is_blocked",
    "blocked_at",
)


def _columns(model: type[Model], *, leave_out: Iterable[str] = ()) -> list[str]:
    """The model's stored columns, foreign keys by their id (`message_id`)."""
    skipped = {"owner", *leave_out}
    return [field.attname for field in model._meta.concrete_fields if field.name not in skipped]


def _tables(user: User) -> Iterator[tuple[str, QuerySet, list[str]]]:
    """(file name, rows, columns) of every table the person owns rows of."""
    yield "recipients.csv", Recipient.objects.filter(owner=user), _columns(Recipient)
    yield "messages.csv", Message.objects.filter(owner=user), _columns(Message)
    yield (
        "mailings.csv",
        Mailing.objects.filter(owner=user),
        _columns(Mailing, leave_out=["disabled_by"]),
    )
    for field in Mailing._meta.many_to_many:
        through: Any = field.remote_field.through
        yield (
            f"mailing_{field.name}.csv",
            through.objects.filter(**{f"{field.m2m_field_name()}__owner": user}),
            _columns(through, leave_out=["id"]),
        )
    yield "attempts.csv", Attempt.objects.filter(mailing__owner=user), _columns(Attempt)
    yield "suppressions.csv", Suppression.objects.filter(owner=user), _columns(Suppression)
    known = {Recipient, Message, Mailing, Attempt, Suppression}
    for model in apps.get_app_config("mailing").get_models():
        if model in known or not any(f.name == "owner" for f in model._meta.concrete_fields):
            continue
        yield (
            f"{model._meta.model_name}.csv",
            model._default_manager.filter(owner=user),
            _columns(model),
        )
        # Rows that belong to an owned row (a list's memberships): through its foreign key.
        for relation in model._meta.related_objects:
            related: Any = relation.related_model
            if relation.one_to_many and related._meta.app_label == "mailing":
                if related in known or any(f.name == "owner" for f in related._meta.fields):
                    continue
                yield (
                    f"{related._meta.model_name}.csv",
                    related.objects.filter(**{f"{relation.field.name}__owner": user}),
                    _columns(related),
                )


def _cell(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _profile(user: User) -> dict[str, Any]:
    profile: dict[str, Any] = {name: _cell(getattr(user, name)) for name in PROFILE_FIELDS}
    profile["country"] = str(user.country.code or "")
    profile["avatar"] = user.avatar.name or None
    profile["email_addresses"] = [
        {"email": email, "verified": verified, "primary": primary}
        for email, verified, primary in EmailAddress.objects.filter(user=user)
        .order_by("pk")
        .values_list("email", "verified", "primary")
    ]
    profile["exported_at"] = timezone.now().isoformat()
    return profile


def write_personal_data(*, user: User, file: IO[bytes]) -> dict[str, int]:
    """Write the ZIP of everything held about `user` into `file`; returns the rows per
    file written."""
    counts: dict[str, int] = {}
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "profile.json", json.dumps(_profile(user), ensure_ascii=False, indent=2) + "\n"
        )
        if user.avatar:
            try:
                with (
                    user.avatar.open("rb") as picture,
                    archive.open(f"avatar/{user.avatar.name.rsplit('/', 1)[-1]}", "w") as stored,
                ):
                    while chunk := picture.read(64 * 1024):
                        stored.write(chunk)
            except FileNotFoundError:
                logger.warning("personal_data.avatar_missing", extra={"user_id": user.pk})
        for name, rows, columns in _tables(user):
            counts[name] = _write_csv(archive, name, rows.order_by("pk"), columns)
    logger.info("personal_data.exported", extra={"user_id": user.pk, "rows": counts})
    return counts


def _write_csv(archive: zipfile.ZipFile, name: str, rows: QuerySet, columns: list[str]) -> int:
    written = 0
    with archive.open(name, "w", force_zip64=True) as raw:
        # UTF-8 with a BOM: spreadsheet programs then read the Cyrillic right.
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow(columns)
        for row in rows.values_list(*columns).iterator(chunk_size=CHUNK):
            writer.writerow([_cell(value) for value in row])
            written += 1
        text.flush()
        text.detach()
    return written
