"""The one scheduler process: starts due runs, delivers, finishes, recovers, cleans up.

Run exactly one of these per deployment (more senders can run `send_mailing`). It is never
started from AppConfig.ready() or a web worker: with several workers every mail would go out
several times. A second one against the same database (or `--once` while one runs) waits for
the first to stop, or with --no-wait exits with a message naming the one running
(`mailing.management.scheduler_lock`).
"""

import logging

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_apscheduler.jobstores import DjangoJobStore

from mailing import delivery
from mailing.jobs import scheduled_jobs
from mailing.management.graceful import GracefulStop
from mailing.management.scheduler_lock import SchedulerLock

logger = logging.getLogger("mailing.scheduler")
# How often the running scheduler makes sure it still holds the lock (PostgreSQL: that the
# lock's connection is alive; a new one takes it back if nobody else has).
LOCK_CHECK_SECONDS = 10


class Command(BaseCommand):
    help = "Run the delivery scheduler (django-apscheduler). --once runs every job one time."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Run each job once, in order, then exit."
        )
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="Exit (status 1) instead of waiting when another scheduler is running.",
        )

    def handle(self, *args, once: bool = False, no_wait: bool = False, **options) -> None:
        lock = SchedulerLock()
        try:
            acquired = lock.acquire(wait=not no_wait, notice=self.stderr.write)
        except KeyboardInterrupt:
            raise CommandError(
                "Stopped while waiting for the other scheduler.", returncode=130
            ) from None
        if not acquired:
            raise CommandError("Another scheduler is running.")
        try:
            self._run(lock, once=once)
        finally:
            lock.release()

    def _run(self, lock: SchedulerLock, *, once: bool) -> None:
        jobs = scheduled_jobs()
        if once:
            # SIGTERM (cron's or a container's stop) and Ctrl+C: the delivery job finishes
            # the message in hand, records it and hands the rest back; later jobs are skipped.
            with GracefulStop(notice=self.stderr.write) as stop:
                for job in jobs:
                    if delivery.stop_requested.is_set():
                        break
                    self.stdout.write(f"Running {job.id}")
                    try:
                        job.func()
                    except KeyboardInterrupt:
                        raise CommandError("Stopped at once.", returncode=stop.exit_code) from None
            if stop.signum is not None:
                raise CommandError(
                    "Interrupted. What was sent is recorded; the rest stays queued.",
                    returncode=stop.exit_code,
                )
            self.stdout.write(self.style.SUCCESS("All jobs ran once."))
            return

        scheduler = BlockingScheduler(timezone=settings.TIME_ZONE)
        scheduler.add_jobstore(DjangoJobStore(), "default")
        # The lock check is this process's own business: kept in memory, not in the job store.
        scheduler.add_jobstore(MemoryJobStore(), "process")
        lock_lost = False

        def check_lock() -> None:
            nonlocal lock_lost
            if not lock.still_held():
                lock_lost = True
                logger.error("scheduler.lock_lost")
                scheduler.shutdown(wait=False)

        scheduler.add_job(
            check_lock,
            trigger=IntervalTrigger(seconds=LOCK_CHECK_SECONDS),
            id="scheduler_lock_check",
            jobstore="process",
            max_instances=1,
            coalesce=True,
        )
        for job in jobs:
            scheduler.add_job(
                job.func,
                trigger=IntervalTrigger(seconds=job.seconds),
                id=job.id,
                max_instances=1,  # a long delivery makes the next tick wait, never overlap
                coalesce=True,
                misfire_grace_time=job.seconds,
                replace_existing=True,
            )

        def stopping() -> None:
            logger.info("scheduler.stopping", extra={"signal": graceful.signum})
            # Waits for the running jobs, whose senders are finishing the message in hand.
            scheduler.shutdown(wait=True)

        logger.info("scheduler.started", extra={"jobs": [job.id for job in jobs]})
        self.stdout.write(f"Scheduler running {len(jobs)} jobs; stop with Ctrl+C.")
        graceful = GracefulStop(notice=self.stderr.write, on_stop=stopping)
        with graceful:
            try:
                scheduler.start()
            except KeyboardInterrupt:
                raise CommandError("Stopped at once.", returncode=130) from None
        if lock_lost:
            raise CommandError(
                "Lost the scheduler lock (the database connection that held it broke, and "
                "another scheduler has it now): stopped, so that jobs do not run twice."
            )
