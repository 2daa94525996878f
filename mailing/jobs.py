"""The scheduler's jobs: thin, importable wrappers around the delivery engine.

Each job closes stale database connections around its run (a long-lived process must not
reuse a connection the server dropped) and never lets an exception escape into APScheduler:
a broken SMTP server or a database hiccup is logged and the next tick tries again.
"""

import io
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from django_apscheduler.models import DjangoJobExecution
from django_apscheduler.util import close_old_connections

from . import delivery
from .models import Heartbeat

logger = logging.getLogger(__name__)
T = TypeVar("T")

JOB_EXECUTION_MAX_AGE_SECONDS = 24 * 60 * 60


def _guarded(name: str, func: Callable[[], T]) -> T | None:
    try:
        return func()
    except Exception:
        logger.exception("scheduler.job_failed", extra={"job": name})
        return None


def _record_tick() -> None:
    Heartbeat.objects.update_or_create(
        name=Heartbeat.SCHEDULER,
        defaults={
            "beat_at": timezone.now(),
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
        },
    )


@close_old_connections
def record_tick() -> None:
    """The scheduler's heartbeat, one row: the managers' health page reads its last tick."""
    _guarded("record_tick", _record_tick)


@close_old_connections
def requeue_expired_claims() -> None:
    _guarded("requeue_expired_claims", delivery.requeue_expired_claims)


@close_old_connections
def start_due_runs() -> None:
    _guarded("start_due_runs", delivery.start_due_runs)


@close_old_connections
def deliver_pending() -> None:
    report = _guarded("deliver_pending", delivery.deliver)
    if report is not None and report.attempted:
        logger.info(
            "scheduler.delivered",
            extra={
                "sent": report.sent,
                "failed": report.failed,
                "deferred": report.deferred,
                "seconds": round(report.seconds, 2),
            },
        )


@close_old_connections
def finish_completed() -> None:
    _guarded("finish_completed", delivery.finish_completed)


@close_old_connections
def publish_scheduled_pages() -> None:
    """Wagtail's go-live and expiry dates: nothing acts on them unless this command runs."""
    _guarded(
        "publish_scheduled_pages", lambda: call_command("publish_scheduled", stdout=io.StringIO())
    )


@close_old_connections
def delete_old_job_executions() -> None:
    _guarded(
        "delete_old_job_executions",
        lambda: DjangoJobExecution.objects.delete_old_job_executions(JOB_EXECUTION_MAX_AGE_SECONDS),
    )


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[[], None]
    seconds: int


def scheduled_jobs() -> list[Job]:
    """Every job with its interval, in the order `run_scheduler --once` runs them."""
    tick = settings.MAILING_TICK_SECONDS
    return [
        Job("record_tick", record_tick, tick),
        Job("requeue_expired_claims", requeue_expired_claims, max(tick, 30)),
        Job("start_due_runs", start_due_runs, tick),
        Job("deliver_pending", deliver_pending, tick),
        Job("finish_completed", finish_completed, tick),
        Job("publish_scheduled_pages", publish_scheduled_pages, 60),
        Job("delete_old_job_executions", delete_old_job_executions, 60 * 60),
    ]
