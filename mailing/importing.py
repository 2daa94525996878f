"""Reading a CSV file of recipients: one pass over the file, a row at a time, never all of it.

The file is UTF-8 (with or without a BOM), comma- or semicolon-separated (told from the header
line), with a header row naming at least the address column: `email` (or `e-mail`, `почта`),
and optionally `full_name` (`name`, `имя`, `фио`) and `comment` (`комментарий`). Names are
matched whatever their case; other columns are ignored.

`read_rows` yields the data rows with their line numbers and raises `ImportFileError`, whose
text is meant for a person, for a file it cannot read as such a CSV: too large, not text, not
UTF-8, no header, no address column. What each row means for an owner (new, changed, refused)
is decided by `mailing.services.imports`.

Why the csv module rather than tablib (or django-import-export, built on it): tablib loads
the whole file into a Dataset before the first row can be looked at, and sniffs the format
from all of it; that is memory in the size of the file and gives no row numbers for decoding
errors. The rules here (header aliases, BOM, `;`, a reason per row) are a few lines over the
standard library, which streams.
"""

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext

HEADERS = {
    "email": {
        "email",
        "e-mail",
        "email address",
        "e-mail address",
        "mail",
        "почта",
        "эл. почта",
        "электронная почта",
        "адрес",
    },
    "full_name": {"full_name", "full name", "fullname", "name", "имя", "фио", "полное имя"},
    "comment": {"comment", "comments", "note", "notes", "комментарий", "примечание"},
}
SAMPLE_BYTES = 8192


class ImportFileError(ValueError):
    """The file cannot be imported; the text says why, for the person who chose it."""


@dataclass(frozen=True)
class Row:
    number: int  # the line of the file, the header being line 1
    email: str
    full_name: str | None  # None: the file has no such column
    comment: str | None


def max_bytes() -> int:
    return settings.MAILING_IMPORT_MAX_BYTES


def check_size(size: int) -> None:
    if size > max_bytes():
        raise ImportFileError(
            gettext("The file is too large (%(size)s); the limit is %(limit)s.")
            % {"size": filesizeformat(size), "limit": filesizeformat(max_bytes())}
        )


def _size(file: IO[bytes]) -> int:
    size = getattr(file, "size", None)
    if size is None:
        position = file.tell()
        file.seek(0, io.SEEK_END)
        size = file.tell()
        file.seek(position)
    return int(size)


def _sniff(sample: bytes) -> str:
    """The delimiter, told from the header line: `;` when it has more of them than commas."""
    if b"\x00" in sample:
        raise ImportFileError(gettext("This file is not a CSV text file."))
    if sample.startswith(codecs.BOM_UTF8):
        sample = sample[len(codecs.BOM_UTF8) :]
    first_line = sample.split(b"\n", 1)[0]
    return ";" if first_line.count(b";") > first_line.count(b",") else ","


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        key = " ".join(name.strip().lower().replace("_", " ").split())
        for field, aliases in HEADERS.items():
            normal = {" ".join(alias.replace("_", " ").split()) for alias in aliases}
            if key in normal and field not in found:
                found[field] = index
    if "email" not in found:
        raise ImportFileError(
            gettext(
                "The first row must name the columns, one of them “email” (or “почта”); "
                "found: %(header)s."
            )
            % {"header": ", ".join(f"“{name[:40]}”" for name in header[:10]) or gettext("nothing")}
        )
    return found


def read_rows(file: IO[bytes]) -> Iterator[Row]:
    """The data rows of `file` (opened in binary), read as the module says; raises
    `ImportFileError` before the first row for a file too large or without the header, and
    at the row where it stops being UTF-8 CSV otherwise."""
    check_size(_size(file))
    file.seek(0)
    delimiter = _sniff(file.read(SAMPLE_BYTES))
    file.seek(0)
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    try:
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFileError(gettext("The file is empty.")) from None
        columns = _columns(header)
        email_at = columns["email"]
        name_at = columns.get("full_name")
        comment_at = columns.get("comment")
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue  # a blank line
            yield Row(
                number=reader.line_num,
                email=fields[email_at].strip() if email_at < len(fields) else "",
                full_name=_cell(fields, name_at),
                comment=_cell(fields, comment_at),
            )
    except UnicodeDecodeError:
        raise ImportFileError(
            gettext(
                "The file is not UTF-8 text (line %(line)s). Save it as “CSV UTF-8” and try again."
            )
            % {"line": _first_bad_line(text)}
        ) from None
    except csv.Error as error:
        raise ImportFileError(
            gettext("The file is not valid CSV at line %(line)s: %(error)s.")
            % {"line": reader.line_num, "error": error}
        ) from None
    finally:
        text.detach()  # leave the caller's file open


def _first_bad_line(text: io.TextIOWrapper) -> int:
    """The line of the file where UTF-8 decoding fails (the reader decodes a block ahead)."""
    raw: Any = text.buffer
    raw.seek(0)
    for number, line in enumerate(raw, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return 1


def _cell(fields: list[str], index: int | None) -> str | None:
    if index is None:
        return None
    return fields[index].strip() if index < len(fields) else ""
