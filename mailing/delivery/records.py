"""Records: the SQL that writes attempts, delivery states and daily totals.

A group of outcomes (one message's, or up to half of MAILING_COMMIT_EVERY) is committed in one
transaction and one round trip: on PostgreSQL a single prepared statement that takes the group
as arrays (`unnest`), parsed and planned once per connection, so a group of 25 costs about what
a group of one does; elsewhere (SQLite, or inside a caller's transaction) three plain
statements in a transaction. Nothing here decides anything: each outcome carries the retry
policy's `Decision`.
"""

import logging
import threading
import uuid
import weakref
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from ..models import Attempt, DailyStat, Delivery, Mailing, Recipient, Run
from ..transport import Reply
from .policy import SENT, Decision

if TYPE_CHECKING:
    from .queue import Claimed

logger = logging.getLogger("mailing.delivery")

CLAIMED = Delivery.State.CLAIMED
SUCCESS, FAILURE = Attempt.Status.SUCCESS, Attempt.Status.FAILURE


class Outcome(NamedTuple):
    """What happened to one claim at `at`, and what the retry policy made of it."""

    claim: "Claimed"
    reply: Reply
    at: datetime
    decision: Decision


def write_outcomes(outcomes: list[Outcome]) -> dict[str, int]:
    """Commit the attempts, delivery states and daily totals of `outcomes` together; returns
    how many deliveries went to each state.

    A delivery whose claim is no longer ours (a stalled sender's, requeued and taken by
    another) keeps its state; its attempt is recorded all the same: the message did go out."""
    if not outcomes:
        return {}
    try:
        _write(outcomes)
    except IntegrityError:
        # A recipient or mailing was deleted while its message was in flight: keep every
        # record whose mailing still exists, without the vanished recipient link.
        recipients = set(
            Recipient.objects.filter(pk__in={o.claim.recipient_id for o in outcomes}).values_list(
                "pk", flat=True
            )
        )
        mailings = set(
            Mailing.objects.filter(pk__in={o.claim.mailing_id for o in outcomes}).values_list(
                "pk", flat=True
            )
        )
        outcomes = [o for o in outcomes if o.claim.mailing_id in mailings]
        _write(outcomes, recipients=recipients)
    counts: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        counts[outcome.decision.state] += 1
    if any(outcome.decision.bounce for outcome in outcomes):
        _suppress_bounces(outcomes)
    return counts


def _suppress_bounces(outcomes: list[Outcome]) -> None:
    """Bounces become suppressions once their records are committed; a failure here loses
    no record (the next bounce of the address suppresses it)."""
    from .suppression import suppress_bounces  # it builds on this module

    try:
        suppress_bounces(outcomes)
    except DatabaseError:
        logger.exception("delivery.suppression_failed", extra={"count": len(outcomes)})


def _write(outcomes: list[Outcome], *, recipients: set[int] | None = None) -> None:
    if not outcomes:
        return
    if connection.vendor == "postgresql" and connection.get_autocommit():
        _write_prepared(outcomes, recipients=recipients)
    else:
        _write_plain(outcomes, recipients=recipients)


# -- PostgreSQL: prepared statements ----------------------------------------------------------

_RECORD_ONE, _RECORD_MANY = "mailing_record_one", "mailing_record_many"
_UNDEFINED_STATEMENT = "26000"  # SQLSTATE of "prepared statement … does not exist"
_TYPES = (
    "bigint", "bigint", "bigint", "text", "timestamptz", "text", "text",
    "text", "integer", "timestamptz", "bigint", "uuid", "date",
)  # fmt: skip
_COLUMNS = (
    "mailing_id, recipient_id, run_id, email, attempted_at, status, server_response, "
    "state, tries, next_try_at, delivery_id, token, day"
)
_EXECUTE_ONE = f"EXECUTE {_RECORD_ONE} ({', '.join(['%s'] * len(_TYPES))})"
_EXECUTE_MANY = f"EXECUTE {_RECORD_MANY} (" + ", ".join(f"%s::{t}[]" for t in _TYPES) + ")"
_prepared_lock = threading.Lock()
# The DB-API connections that hold the statements (a reconnect needs them prepared again).
_prepared_connections: "weakref.WeakSet" = weakref.WeakSet()


def _write_prepared(outcomes: list[Outcome], *, recipients: set[int] | None) -> None:
    localdate = _LocalDates()
    rows = [
        (
            claim.mailing_id,
            claim.recipient_id if recipients is None or claim.recipient_id in recipients else None,
            claim.run_id,
            claim.email,
            at,
            SUCCESS if decision.state == SENT else FAILURE,
            decision.note[:2000],
            decision.state,
            claim.tries + 1,
            decision.retry_at,
            claim.delivery_id,
            claim.token,
            localdate(at),
        )
        for claim, _reply, at, decision in outcomes
    ]
    # One message (the default, a commit per message): plain parameters, the cheapest call;
    # a group: one array per column.
    sql, params = (
        (_EXECUTE_ONE, rows[0])
        if len(rows) == 1
        else (_EXECUTE_MANY, [list(c) for c in zip(*rows, strict=True)])
    )
    with connection.cursor() as cursor:
        for last_try in (False, True):
            with _prepared_lock:
                if connection.connection not in _prepared_connections:
                    cursor.execute(_record_statements())
                    _prepared_connections.add(connection.connection)
            try:
                cursor.execute(sql, params)
                return
            except DatabaseError as exc:
                # The server forgot the statements (DISCARD ALL, a pooler handing us another
                # session): prepare them again, once. In autocommit nothing was written.
                if last_try or getattr(exc.__cause__, "pgcode", None) != _UNDEFINED_STATEMENT:
                    raise
                with _prepared_lock:
                    _prepared_connections.discard(connection.connection)


def _record_statements() -> str:
    """Both statements: the attempts inserted, the deliveries updated (where they are still
    our claims) and the daily totals added, in one statement each, parsed and planned once per
    connection."""
    qn = connection.ops.quote_name
    attempt, delivery = qn(Attempt._meta.db_table), qn(Delivery._meta.db_table)
    daily = qn(DailyStat._meta.db_table)
    insert_attempt = (
        f"INSERT INTO {attempt} (mailing_id, recipient_id, run_id, email, attempted_at, status, "
        "server_response)"
    )
    set_delivery = (
        "SET state = {state}, tries = {tries}, claim_token = NULL, lease_expires_at = NULL, "
        "next_try_at = COALESCE({next_try_at}, {table}next_try_at)"
    )
    insert_daily = f"INSERT INTO {daily} (mailing_id, day, successes, failures)"
    one = (
        f"PREPARE {_RECORD_ONE} ({', '.join(_TYPES)}) AS "
        f"WITH attempt AS ({insert_attempt} VALUES ($1, $2, $3, $4, $5, $6, $7)), "
        f"delivery AS (UPDATE {delivery} "
        + set_delivery.format(state="$8", tries="$9", next_try_at="$10", table="")
        + f" WHERE id = $11 AND claim_token = $12 AND state = '{CLAIMED}') "
        f"{insert_daily} VALUES ($1, $13, ($6 = '{SUCCESS}')::int, ($6 <> '{SUCCESS}')::int) "
        f"{_daily_stats_conflict()}"
    )
    arrays = ", ".join(f"${i}" for i in range(1, len(_TYPES) + 1))
    many = (
        f"PREPARE {_RECORD_MANY} ({', '.join(f'{t}[]' for t in _TYPES)}) AS "
        f"WITH o AS (SELECT * FROM unnest({arrays}) AS o({_COLUMNS})), "
        f"attempt AS ({insert_attempt} SELECT mailing_id, recipient_id, run_id, email, "
        "attempted_at, status, server_response FROM o), "
        f"delivery AS (UPDATE {delivery} d "
        + set_delivery.format(
            state="o.state", tries="o.tries", next_try_at="o.next_try_at", table="d."
        )
        + f" FROM o WHERE d.id = o.delivery_id AND d.claim_token = o.token "
        f"AND d.state = '{CLAIMED}') "
        f"{insert_daily} SELECT mailing_id, day, count(*) FILTER (WHERE status = '{SUCCESS}'), "
        f"count(*) FILTER (WHERE status <> '{SUCCESS}') FROM o GROUP BY mailing_id, day "
        f"{_daily_stats_conflict()}"
    )
    # A generic plan, made once: PostgreSQL would otherwise plan the group statement afresh at
    # every call (its custom plans know the arrays' lengths, and it keeps preferring them),
    # which took as long as running it. The setting only concerns prepared statements, and
    # this session has no others.
    return f"SET plan_cache_mode = force_generic_plan; {one}; {many}"


# -- Anywhere: plain statements in a transaction ----------------------------------------------


def _write_plain(outcomes: list[Outcome], *, recipients: set[int] | None) -> None:
    attempts: list[tuple] = []
    updates: dict[tuple, list[int]] = defaultdict(list)
    daily: dict[tuple[int, object], list[int]] = defaultdict(lambda: [0, 0])
    localdate = _LocalDates()
    for claim, _reply, at, decision in outcomes:
        ok = decision.state == SENT
        recipient_id: int | None = claim.recipient_id
        if recipients is not None and recipient_id not in recipients:
            recipient_id = None
        attempts.append(
            (
                claim.mailing_id,
                recipient_id,
                claim.run_id,
                claim.email,
                db_datetime(at),
                SUCCESS if ok else FAILURE,
                decision.note[:2000],
            )
        )
        key = (claim.token, decision.state, claim.tries + 1, decision.retry_at)
        updates[key].append(claim.delivery_id)
        daily[(claim.mailing_id, localdate(at))][0 if ok else 1] += 1

    qn = connection.ops.quote_name
    statements = [
        (
            f"INSERT INTO {qn(Attempt._meta.db_table)} (mailing_id, recipient_id, run_id, email, "
            "attempted_at, status, server_response) VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(attempts)),
            [value for row in attempts for value in row],
        )
    ]
    for (token, state, tries, retry_at), ids in updates.items():
        retry = ", next_try_at = %s" if retry_at is not None else ""
        statements.append(
            (
                f"UPDATE {qn(Delivery._meta.db_table)} SET state = %s, tries = %s, "
                f"claim_token = NULL, lease_expires_at = NULL{retry} "
                f"WHERE id IN ({', '.join(['%s'] * len(ids))}) AND claim_token = %s AND state = %s",
                [
                    state,
                    tries,
                    *([db_datetime(retry_at)] if retry_at is not None else []),
                    *ids,
                    db_token(token),
                    CLAIMED,
                ],
            )
        )
    statements.append(_daily_stats_statement({k: (v[0], v[1]) for k, v in daily.items()}))
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)


class _LocalDates:
    """timezone.localdate per outcome, computed once per second of a group."""

    def __init__(self) -> None:
        self._cache: dict[int, Any] = {}

    def __call__(self, at: datetime) -> Any:
        second = int(at.timestamp())
        day = self._cache.get(second)
        if day is None:
            day = self._cache[second] = timezone.localdate(at)
        return day


# -- Daily totals and cancellations -------------------------------------------------------------


def add_daily_stats(totals: dict[tuple[int, object], tuple[int, int]]) -> None:
    """Add (successes, failures) to each (mailing_id, day) row in one upsert."""
    if totals:
        with connection.cursor() as cursor:
            cursor.execute(*_daily_stats_statement(totals))


def _daily_stats_conflict() -> str:
    table = connection.ops.quote_name(DailyStat._meta.db_table)
    return (
        "ON CONFLICT (mailing_id, day) DO UPDATE SET "
        f"successes = {table}.successes + excluded.successes, "
        f"failures = {table}.failures + excluded.failures"
    )


def _daily_stats_statement(totals: dict[tuple[int, Any], tuple[int, int]]) -> tuple[str, list]:
    table = connection.ops.quote_name(DailyStat._meta.db_table)
    adapt_day = connection.ops.adapt_datefield_value
    return (
        f"INSERT INTO {table} (mailing_id, day, successes, failures) VALUES "
        + ", ".join(["(%s, %s, %s, %s)"] * len(totals))
        + f" {_daily_stats_conflict()}",
        [
            value
            for (mailing_id, day), (ok, bad) in totals.items()
            for value in (mailing_id, adapt_day(day), ok, bad)
        ],
    )


def record_cancellations(*, marker: uuid.UUID, now: datetime, reason: str | None) -> None:
    """A failed attempt for each delivery marked with `marker`, saying why it was not sent
    (`reason`, or its run's cancel reason), and the daily totals; in the caller's transaction."""
    qn = connection.ops.quote_name
    attempt, delivery = qn(Attempt._meta.db_table), qn(Delivery._meta.db_table)
    run, recipient = qn(Run._meta.db_table), qn(Recipient._meta.db_table)
    marker_value = db_token(marker)
    response, response_params = "'Not sent: ' || r.cancel_reason", []
    if reason is not None:
        response, response_params = "%s", [f"Not sent: {reason}"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {attempt} "
            "(mailing_id, recipient_id, run_id, email, attempted_at, status, server_response) "
            f"SELECT r.mailing_id, d.recipient_id, d.run_id, rc.email, %s, %s, {response} "
            f"FROM {delivery} d JOIN {run} r ON r.id = d.run_id "
            f"JOIN {recipient} rc ON rc.id = d.recipient_id WHERE d.claim_token = %s",
            [db_datetime(now), FAILURE, *response_params, marker_value],
        )
        cursor.execute(
            f"SELECT r.mailing_id, COUNT(*) FROM {delivery} d JOIN {run} r ON r.id = d.run_id "
            "WHERE d.claim_token = %s GROUP BY r.mailing_id",
            [marker_value],
        )
        day = timezone.localdate(now)
        add_daily_stats({(mailing_id, day): (0, count) for mailing_id, count in cursor.fetchall()})


def db_datetime(value: datetime) -> Any:
    """A datetime as raw SQL needs it (SQLite compares them as text in Django's format)."""
    return connection.ops.adapt_datetimefield_value(value)


def db_token(value: uuid.UUID) -> Any:
    return Delivery._meta.get_field("claim_token").get_db_prep_value(value, connection)
