"""CSV exports, streamed: rows are written as the database hands them over (`.iterator()`),
so memory stays flat and the number of queries is the same for ten rows or a million.

* recipients (what the viewer may see) with their lists and whether their address is
  suppressed; the file imports back as it is (`mailing.importing` reads its header);
* a mailing's attempt report.
"""

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import OuterRef, Subquery
from django.db.models.functions import Lower
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.views import View

from core.roles import objects_for
from core.views import DashboardMixin, OwnedObjectMixin

from .models import Attempt, Mailing, Membership, Recipient, RecipientList, Suppression

CHUNK = 2000


class _Echo:
    """csv.writer writes into this, which hands each line back instead of keeping it."""

    def write(self, value: str) -> str:
        return value


def _csv_stream(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a BOM: spreadsheets then read the file as UTF-8
    for row in rows:
        yield writer.writerow(row)


def _response(rows: Iterable[Iterable[Any]], *, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_csv_stream(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _local(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def recipient_rows(recipients) -> Iterator[list[Any]]:
    """A header, then one row per recipient of `recipients` (a queryset), in email order.

    Three queries: the lists' names, the recipients (each with its suppression, a correlated
    lookup on the (owner, lower(email)) index), and their memberships in the same order,
    merged here."""
    yield ["email", "full_name", "comment", "lists", "suppressed", "created_at"]
    names = dict(
        RecipientList.objects.filter(
            pk__in=Membership.objects.filter(recipient__in=recipients).values("list_id")
        ).values_list("pk", "name")
    )
    suppression = (
        Suppression.objects.filter(owner=OuterRef("owner"))
        .alias(key=Lower("email"))
        .filter(key=Lower(OuterRef("email")))
        .values("reason")[:1]
    )
    rows = (
        recipients.annotate(suppressed=Subquery(suppression))
        .order_by("pk")
        .values_list("pk", "email", "full_name", "comment", "suppressed", "created_at")
        .iterator(chunk_size=CHUNK)
    )
    memberships = (
        Membership.objects.filter(recipient__in=recipients, status=Membership.Status.CONFIRMED)
        .order_by("recipient_id", "list_id")
        .values_list("recipient_id", "list_id")
        .iterator(chunk_size=CHUNK)
    )
    pending = next(memberships, None)
    for pk, email, full_name, comment, suppressed, created_at in rows:
        lists = []
        while pending is not None and pending[0] <= pk:
            if pending[0] == pk and pending[1] in names:
                lists.append(names[pending[1]])
            pending = next(memberships, None)
        yield [email, full_name, comment, "; ".join(lists), suppressed or "", _local(created_at)]


def attempt_rows(attempts) -> Iterator[list[Any]]:
    """A header, then one row per attempt, newest first: one query."""
    yield ["attempted_at", "email", "status", "server_response", "run_id"]
    for attempted_at, email, status, response, run_id in (
        attempts.order_by("-attempted_at", "-pk")
        .values_list("attempted_at", "email", "status", "server_response", "run_id")
        .iterator(chunk_size=CHUNK)
    ):
        yield [_local(attempted_at), email, status, response, run_id or ""]


class RecipientExportView(DashboardMixin, View):
    def get(self, request: HttpRequest) -> StreamingHttpResponse:
        recipients = objects_for(self.user, Recipient)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return _response(recipient_rows(recipients), filename=f"recipients-{stamp}.csv")


class AttemptExportView(OwnedObjectMixin, DashboardMixin, View):
    model = Mailing

    def get(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        mailing = self.get_object()
        attempts = objects_for(self.user, Attempt).filter(mailing=mailing)
        return _response(attempt_rows(attempts), filename=f"mailing-{mailing.pk}-attempts.csv")
