"""What the processes call: `send_mailing` (one mailing, in the foreground) and `serve` (every
sendable run, until stopped: `manage.py run_senders`). The scheduler's job calls `deliver`."""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from ..models import Delivery, Mailing
from .conductor import DeliveryReport, deliver
from .queue import claimable, requeue_expired_claims
from .runs import AlreadySending, CannotSend, finish_completed, start_run
from .sender import stop_requested

logger = logging.getLogger("mailing.delivery")


class UnknownMailing(CannotSend):
    """No mailing has that id."""


def send_mailing(
    *,
    mailing_id: int,
    connections: int | None = None,
    on_start: Callable[[Mailing, bool, int], None] | None = None,
    on_progress: Callable[[DeliveryReport], None] | None = None,
) -> DeliveryReport:
    """Send mailing `mailing_id` now: its open run (which other senders may share), or a new
    one. Raises `CannotSend` saying why not (`UnknownMailing` for an id that is not there).

    `on_start(mailing, started_run, expected)` is called before the first message: whether a
    new run was started, and how many deliveries are to do; the report returned says the same
    in `started_run` and `expected`."""
    mailing = Mailing.objects.select_related("message").filter(pk=mailing_id).first()
    if mailing is None:
        raise UnknownMailing(f"Mailing {mailing_id} does not exist.")
    try:
        start_run(mailing=mailing)
        started_run = True
    except AlreadySending:
        started_run = False  # other senders may be on it too: the claims make them share
    # After a crash with no scheduler running, the dead sender's claims come back here once
    # their lease is over, so that sending again finishes the run.
    requeue_expired_claims(mailing_id=mailing.pk)
    expected = claimable(now=timezone.now(), mailing_id=mailing.pk).count()
    expected += Delivery.objects.filter(run__mailing=mailing, state=Delivery.State.CLAIMED).count()
    if on_start is not None:
        on_start(mailing, started_run, expected)
    report = deliver(mailing_id=mailing.pk, connections=connections, on_progress=on_progress)
    report.expected, report.started_run = expected, started_run
    finish_completed()
    return report


def serve(
    *,
    connections: int | None = None,
    once: bool = False,
    idle_seconds: float | None = None,
    on_pass: Callable[[DeliveryReport], None] | None = None,
) -> DeliveryReport:
    """Deliver every sendable run until `stop_requested` is set, looking for new work every
    `idle_seconds` (MAILING_TICK_SECONDS) when there is none; with `once`, until nothing is
    left to claim. Returns the totals; `on_pass` hears about each pass that did something.

    A failing pass (the database gone) is logged and tried again after the idle time; the
    scheduler starts the runs, finishes them and requeues the claims of dead senders."""
    idle = settings.MAILING_TICK_SECONDS if idle_seconds is None else idle_seconds
    total = DeliveryReport()
    while not stop_requested.is_set():
        close_old_connections()
        try:
            report = deliver(connections=connections)
        except Exception:
            if once:
                raise
            logger.exception("senders.pass_failed")
            stop_requested.wait(idle)
            continue
        total.add(report)
        if on_pass is not None and (report.attempted or report.released or report.postponed):
            on_pass(report)
        if once:
            break
        if not report.attempted:
            stop_requested.wait(idle)
    total.finished = time.monotonic()
    return total
