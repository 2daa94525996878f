"""Suppressed addresses in the engine: skipped when a run is queued, and bounces turned into
suppressions as their outcomes are recorded.

- `skip_suppressed(run)`: right after `runs._enqueue` has queued a run, every delivery to an
  address its owner has suppressed becomes SKIPPED, never sent, with an attempt of status
  "skipped" saying why (one UPDATE and one INSERT … SELECT, whatever the run's size).
- `skip_pending_to(owner_id, email)`: an address suppressed now (an unsubscribe) is skipped in
  the owner's runs already queued.
- `suppress_bounces(outcomes)`: after a group of outcomes is committed, the permanent failures
  among them (`Decision.bounce`) suppress their address: at once when the server said the
  mailbox does not exist, and after MAILING_BOUNCE_LIMIT hard failures in a row otherwise
  (counted from the recipient's attempts, so a success in between starts over). A group
  without a permanent failure costs one pass over a list in Python: nothing on the hot path.
"""

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .. import cache
from ..models import Attempt, Delivery, Mailing, Recipient, Run, Suppression
from .records import db_datetime, db_token

if TYPE_CHECKING:
    from .records import Outcome

PENDING = Delivery.State.PENDING
SKIPPED = Delivery.State.SKIPPED
NOW, AFTER_LIMIT = "now", "after_limit"


def _qn(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def skip_suppressed(*, run_id: int, owner_id: int) -> int:
    """Skip `run_id`'s pending deliveries to `owner_id`'s suppressed addresses; in the
    caller's transaction. Returns how many."""
    marker = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_qn(Delivery)} SET state = %s, claim_token = %s "
            f"WHERE run_id = %s AND state = %s AND recipient_id IN ("
            f"SELECT rc.id FROM {_qn(Recipient)} rc JOIN {_qn(Suppression)} s "
            "ON s.owner_id = rc.owner_id AND LOWER(s.email) = LOWER(rc.email) "
            "WHERE rc.owner_id = %s)",
            [SKIPPED, db_token(marker), run_id, PENDING, owner_id],
        )
        count = cursor.rowcount
    if count:
        _record_skips(marker)
    return count


def skip_pending_to(*, owner_id: int, email: str) -> int:
    """Skip the pending deliveries to `email` in `owner_id`'s open runs (it was just
    suppressed); in the caller's transaction. Deliveries a sender holds right now go out."""
    marker = uuid.uuid4()
    count = Delivery.objects.filter(
        state=PENDING,
        run__finished_at__isnull=True,
        run__mailing__owner_id=owner_id,
        recipient__email__iexact=email,
    ).update(state=SKIPPED, claim_token=marker)
    if count:
        _record_skips(marker)
    return count


def _record_skips(marker: uuid.UUID) -> None:
    """An attempt of status "skipped" for each delivery marked with `marker`, saying why."""
    now = timezone.now()
    reason = (
        "CASE s.reason WHEN %s THEN 'Not sent: the address unsubscribed' "
        "ELSE 'Not sent: the address bounced' || COALESCE(' (' || NULLIF(s.detail, '') || ')', '') END"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_qn(Attempt)} "
            "(mailing_id, recipient_id, run_id, email, attempted_at, status, server_response) "
            f"SELECT r.mailing_id, d.recipient_id, d.run_id, rc.email, %s, %s, {reason} "
            f"FROM {_qn(Delivery)} d JOIN {_qn(Run)} r ON r.id = d.run_id "
            f"JOIN {_qn(Recipient)} rc ON rc.id = d.recipient_id "
            f"JOIN {_qn(Mailing)} m ON m.id = r.mailing_id "
            f"JOIN {_qn(Suppression)} s ON s.owner_id = m.owner_id "
            "AND LOWER(s.email) = LOWER(rc.email) WHERE d.claim_token = %s",
            [
                db_datetime(now),
                Attempt.Status.SKIPPED,
                Suppression.Reason.UNSUBSCRIBED,
                db_token(marker),
            ],
        )
    Delivery.objects.filter(claim_token=marker).update(claim_token=None)


def suppress_bounces(outcomes: "Iterable[Outcome]") -> int:
    """Suppress the addresses the permanent failures among `outcomes` call for (after they
    are committed). Returns how many addresses were suppressed."""
    bounced = [o for o in outcomes if o.decision.bounce]
    if not bounced:
        return 0
    limit = max(1, settings.MAILING_BOUNCE_LIMIT)
    owner_of = dict(
        Mailing.objects.filter(pk__in={o.claim.mailing_id for o in bounced}).values_list(
            "pk", "owner_id"
        )
    )
    rows: dict[tuple[int, str], str] = {}
    for outcome in bounced:
        claim = outcome.claim
        owner_id = owner_of.get(claim.mailing_id)
        if owner_id is None:
            continue
        if outcome.decision.bounce == AFTER_LIMIT and not _hard_failures_in_a_row(
            recipient_id=claim.recipient_id, limit=limit
        ):
            continue
        rows[(owner_id, claim.email.lower())] = str(outcome.reply)[:500]
    if not rows:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_qn(Suppression)} "
            "(owner_id, email, reason, detail, created_at, updated_at) VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
            + " ON CONFLICT DO NOTHING",
            [
                value
                for (owner_id, email), detail in rows.items()
                for value in (
                    owner_id,
                    email,
                    Suppression.Reason.BOUNCED,
                    detail,
                    db_datetime(timezone.now()),
                    db_datetime(timezone.now()),
                )
            ],
        )
        count = cursor.rowcount
        for owner_id, email in rows:
            skip_pending_to(owner_id=owner_id, email=email)
    for owner_id in {owner_id for owner_id, _ in rows}:
        cache.bump(owner_id=owner_id)  # their recipient lists show it
    return count


def _hard_failures_in_a_row(*, recipient_id: int, limit: int) -> bool:
    """Whether the recipient's last `limit` attempts (skips aside) were all 5xx failures."""
    last = list(
        Attempt.objects.filter(recipient_id=recipient_id)
        .exclude(status=Attempt.Status.SKIPPED)
        .order_by("-attempted_at", "-pk")
        .values_list("status", "server_response")[:limit]
    )
    return len(last) >= limit and all(
        status == Attempt.Status.FAILURE and response[:1] == "5" for status, response in last
    )
