"""The queue: claim due deliveries, renew the leases, hand back what was not sent, requeue the
claims of a sender that died.

A claim is `SELECT … FOR UPDATE SKIP LOCKED` (a conditional UPDATE keeps SQLite correct too)
that leases the rows to one sender with a token; the sender renews its leases every third of
MAILING_CLAIM_LEASE_SECONDS and learns from the renewal which claims are still its own: a
sender that stalled past its lease (SIGSTOP, a paused VM, a hung database) may have had them
requeued and taken by another, and drops those unsent.
"""

import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..models import Delivery, Recipient
from .records import db_datetime, db_token
from .runs import sendable_runs

logger = logging.getLogger("mailing.delivery")

PENDING = Delivery.State.PENDING
CLAIMED = Delivery.State.CLAIMED


class Claimed(NamedTuple):
    """One leased delivery, with what sending it needs (read once, at the claim)."""

    delivery_id: int
    token: uuid.UUID
    run_id: int
    mailing_id: int
    recipient_id: int
    email: str
    full_name: str
    tries: int


def claimable(*, now: datetime, mailing_id: int | None = None) -> QuerySet:
    return Delivery.objects.filter(
        run__in=sendable_runs(mailing_id=mailing_id), state=PENDING, next_try_at__lte=now
    )


def claim_batch(
    *, limit: int, lease_seconds: int, mailing_id: int | None = None, now: datetime | None = None
) -> list[Claimed]:
    """Lease up to `limit` due deliveries to the caller; no two callers get the same row.

    The queue is read one run at a time, each through the (run, state, next_try_at, id)
    index, so a claim costs the same at the start and at the end of a 100,000-recipient run
    whatever the planner's statistics say; the runs are taken in random order, so mailings
    sent at the same time share the senders instead of waiting for one another."""
    now = now or timezone.now()
    token = uuid.uuid4()
    mailing_of = dict(sendable_runs(mailing_id=mailing_id).values_list("pk", "mailing_id"))
    run_ids = list(mailing_of)
    random.shuffle(run_ids)
    with transaction.atomic():
        ids: list[int] = []
        for run_id in run_ids:
            ids += (
                Delivery.objects.filter(run_id=run_id, state=PENDING, next_try_at__lte=now)
                .order_by("next_try_at", "pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[: limit - len(ids)]
            )
            if len(ids) >= limit:
                break
        if not ids:
            return []
        # `state = pending` again: on SQLite (no row locks) a rival may have taken some first;
        # what comes back is ours.
        table = connection.ops.quote_name(Delivery._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET state = %s, claim_token = %s, lease_expires_at = %s "
                f"WHERE id IN ({', '.join(['%s'] * len(ids))}) AND state = %s "
                "RETURNING id, run_id, recipient_id, tries",
                [
                    CLAIMED,
                    db_token(token),
                    db_datetime(now + timedelta(seconds=lease_seconds)),
                    *ids,
                    PENDING,
                ],
            )
            claimed = sorted(cursor.fetchall())
    # The recipients by primary key, on their own: joined in, the planner may hash the whole
    # recipient table for every batch.
    people = dict(
        (pk, (email, name))
        for pk, email, name in Recipient.objects.filter(
            pk__in={row[2] for row in claimed}
        ).values_list("pk", "email", "full_name")
    )
    return [
        Claimed(
            delivery_id,
            token,
            run_id,
            mailing_of[run_id],
            recipient_id,
            *people[recipient_id],
            tries,
        )
        for delivery_id, run_id, recipient_id, tries in claimed
        if recipient_id in people
    ]


def renew_leases(*, tokens: Iterable[uuid.UUID], lease_seconds: int) -> set[int]:
    """Extend the leases of the claims made with `tokens`; returns the ids still claimed with
    them (a claim requeued while its sender stalled, or recorded, is not)."""
    tokens = list(tokens)
    if not tokens:
        return set()
    table = connection.ops.quote_name(Delivery._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET lease_expires_at = %s WHERE claim_token IN "
            f"({', '.join(['%s'] * len(tokens))}) AND state = %s RETURNING id",
            [
                db_datetime(timezone.now() + timedelta(seconds=lease_seconds)),
                *(db_token(token) for token in tokens),
                CLAIMED,
            ],
        )
        return {row[0] for row in cursor.fetchall()}


def release(*, claims: Iterable[Claimed]) -> int:
    """Hand unsent claims back to the queue at once (no try is counted)."""
    return _hand_back(claims)


def defer(*, claims: Iterable[Claimed], until: datetime) -> int:
    """Hand claims back to the queue due at `until`, no try counted (a throttle's "not now")."""
    return _hand_back(claims, until=until)


def _hand_back(claims: Iterable[Claimed], *, until: datetime | None = None) -> int:
    by_token = defaultdict(list)
    for claim in claims:
        by_token[claim.token].append(claim.delivery_id)
    due = {} if until is None else {"next_try_at": until}
    count = 0
    for token, ids in by_token.items():
        count += Delivery.objects.filter(pk__in=ids, claim_token=token, state=CLAIMED).update(
            state=PENDING, claim_token=None, lease_expires_at=None, **due
        )
    return count


def requeue_expired_claims(*, now: datetime | None = None, mailing_id: int | None = None) -> int:
    """Claims whose sender stopped renewing its lease (it died) go back to pending."""
    now = now or timezone.now()
    expired = Delivery.objects.filter(state=CLAIMED, lease_expires_at__lt=now)
    if mailing_id is not None:
        expired = expired.filter(run__mailing_id=mailing_id)
    count = expired.update(state=PENDING, claim_token=None, lease_expires_at=None)
    if count:
        logger.warning("delivery.claims_requeued", extra={"count": count})
    return count
