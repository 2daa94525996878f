"""The one scheduler process: starts due runs, delivers, finishes, recovers, cleans up.

Run exactly one of these per deployment (more senders can run `send_mailing`). It is never
started from AppConfig.ready() or a web worker: with several workers every mail would go out
several times.
"""

import logging
import signal

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from django.conf import settings
from django.core.management.base import BaseCommand
from django_apscheduler.jobstores import DjangoJobStore

from mailing import delivery
from mailing.jobs import scheduled_jobs

logger = logging.getLogger("mailing.scheduler")


class Command(BaseCommand):
    help = "Run the delivery scheduler (django-apscheduler). --once runs every job one time."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Run each job once, in order, then exit."
        )

    def handle(self, *args, once: bool = False, **options) -> None:
        jobs = scheduled_jobs()
        if once:
            for job in jobs:
                self.stdout.write(f"Running {job.id}")
                job.func()
            self.stdout.write(self.style.SUCCESS("All jobs ran once."))
            return

        scheduler = BlockingScheduler(timezone=settings.TIME_ZONE)
        scheduler.add_jobstore(DjangoJobStore(), "default")
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

        def stop(signum, frame) -> None:
            logger.info("scheduler.stopping", extra={"signal": signum})
            # Senders finish the message in hand and hand the rest back to the queue.
            delivery.stop_requested.set()
            scheduler.shutdown(wait=True)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        logger.info("scheduler.started", extra={"jobs": [job.id for job in jobs]})
        self.stdout.write(f"Scheduler running {len(jobs)} jobs; stop with Ctrl+C.")
        scheduler.start()
