"""The delivery engine: the one place where mail is queued, sent, recorded and stopped.

1. Due      runs.py       `start_due_runs` / `start_run` turn a due occurrence into a `Run`
                          and enqueue one `Delivery` per recipient with a single
                          INSERT … SELECT. The unique keys (run, recipient) and (mailing,
                          occurrence) make a repeated tick a no-op. `ensure_sendable`, on the
                          rows `lock_mailing` locks, is the one rule for whether a mailing may
                          start a run; `sendable_runs` the one rule for which runs may send.
2. Claim    queue.py      `claim_batch` takes due deliveries with SELECT … FOR UPDATE SKIP
                          LOCKED and leases them to one sender, which renews the leases every
                          third of MAILING_CLAIM_LEASE_SECONDS. A renewal says which claims are
                          still ours: a sender that stalled past its lease drops those it lost
                          (another sender has them) and starts no message until it knows.
3. Throttle policy.py     before each message the sender asks `Throttle.reserve`, which may
                          make it wait or defer the claim to a later time (no try counted).
4. Send     sender.py     one asyncio event loop drives MAILING_SENDER_CONNECTIONS SMTP
            connection.py connections (`mailing.transport`), each a `Worker`, commands
                          pipelined; the message is prepared once per run and rendered per
                          recipient (`mailing.content`).
5. Record   records.py    after the server accepted a message, never before: its `Attempt`,
                          the delivery's new state and the `DailyStat` totals, committed
                          together, a group at a time. The sender takes one of
                          MAILING_COMMIT_EVERY slots (default 1) before the final "." and gets
                          it back when that record is committed, so at most that many sent
                          messages are ever unrecorded: all that a kill -9 can re-send.
6. Classify policy.py     `RetryPolicy.decide`: 2xx sent; 4xx, timeouts, refused or dropped
                          connections, garbage and a refused session (greeting, EHLO, STARTTLS,
                          AUTH, MAIL FROM) retried with exponential backoff up to
                          MAILING_MAX_TRIES; a 5xx to RCPT TO or the end of DATA failed at once.
7. Recover  queue.py      `requeue_expired_claims` hands the leases of a dead sender back.
8. Finish   runs.py       `finish_completed` closes runs with nothing left and finishes
                          mailings; stop, manager disable and owner block go through
                          `cancel_runs`, which turns every pending delivery into a failed
                          attempt carrying the reason.

Who drives it: conductor.py's `deliver()` is one pass (the caller's thread runs the loop in
turns and does the database work between them; database.py's thread writes claims and grouped
records meanwhile, so the loop keeps sending); drivers.py's `send_mailing` (one mailing, in the
foreground) and `serve` (every sendable run until stopped: `manage.py run_senders`) wrap it,
and the scheduler's job calls `deliver()`.
"""

from .conductor import DeliveryReport, deliver
from .drivers import UnknownMailing, send_mailing, serve
from .policy import Decision, Hold, Policy, RetryPolicy, Throttle
from .queue import (
    Claimed,
    claim_batch,
    claimable,
    defer,
    release,
    renew_leases,
    requeue_expired_claims,
)
from .records import Outcome, add_daily_stats, write_outcomes
from .runs import (
    AlreadySending,
    CannotSend,
    cancel_deliveries_to,
    cancel_runs,
    ensure_sendable,
    finish_completed,
    lock_mailing,
    sendable_runs,
    start_due_runs,
    start_run,
    sweep_cancelled_runs,
)
from .sender import stop_requested

__all__ = [
    "AlreadySending",
    "CannotSend",
    "Claimed",
    "Decision",
    "DeliveryReport",
    "Hold",
    "Outcome",
    "Policy",
    "RetryPolicy",
    "Throttle",
    "UnknownMailing",
    "add_daily_stats",
    "cancel_deliveries_to",
    "cancel_runs",
    "claim_batch",
    "claimable",
    "defer",
    "deliver",
    "ensure_sendable",
    "finish_completed",
    "lock_mailing",
    "release",
    "renew_leases",
    "requeue_expired_claims",
    "send_mailing",
    "sendable_runs",
    "serve",
    "start_due_runs",
    "start_run",
    "stop_requested",
    "sweep_cancelled_runs",
    "write_outcomes",
]
