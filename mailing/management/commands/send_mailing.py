"""Deliver one mailing in the foreground, with a progress bar and a summary.

Safe beside the scheduler and other senders: deliveries are claimed, so the processes share
the run and nobody gets the same occurrence twice.
"""

import signal

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from mailing import delivery
from mailing.management.progress import ProgressBar
from mailing.models import Delivery, Mailing, Run


class Command(BaseCommand):
    help = "Send mailing <id> now: its open run, or a new one. Exits non-zero when it cannot."

    def add_arguments(self, parser) -> None:
        parser.add_argument("mailing_id", type=int)
        parser.add_argument(
            "--connections",
            type=int,
            default=None,
            help="Parallel SMTP connections (default: MAILING_SENDER_CONNECTIONS; at most "
            "2 x MAILING_COMMIT_EVERY).",
        )

    def _stop_gracefully(self, signum, frame) -> None:
        """First Ctrl+C: finish the message in hand, record, hand the rest back. Second: now."""
        if delivery.stop_requested.is_set():
            raise KeyboardInterrupt
        delivery.stop_requested.set()
        self.stderr.write("\nStopping after the message in hand (Ctrl+C again to stop at once)…")

    def handle(self, *args, mailing_id: int, connections: int | None, **options) -> None:
        mailing = Mailing.objects.select_related("owner", "message").filter(pk=mailing_id).first()
        if mailing is None:
            raise CommandError(f"Mailing {mailing_id} does not exist.")
        if mailing.is_disabled:
            raise CommandError(f"Mailing {mailing_id} was disabled by a manager; nothing was sent.")
        if mailing.owner.is_blocked:
            raise CommandError(
                f"The owner of mailing {mailing_id} ({mailing.owner.email}) is blocked; "
                "nothing was sent."
            )
        if Run.objects.filter(mailing=mailing, finished_at__isnull=True).exists():
            self.stdout.write(
                f"Continuing the open run of mailing {mailing_id}: “{mailing.message}”."
            )
        else:
            if mailing.status == Mailing.Status.FINISHED:
                raise CommandError(
                    f"Mailing {mailing_id} has finished; schedule it again to send it."
                )
            if mailing.end_at <= timezone.now():
                raise CommandError(
                    f"Mailing {mailing_id} ended on {mailing.end_at:%Y-%m-%d %H:%M}."
                )
            if not mailing.recipients.exists():
                raise CommandError(f"Mailing {mailing_id} has no recipients.")
            try:
                delivery.start_run(mailing=mailing)
                self.stdout.write(
                    f"Started a new run of mailing {mailing_id}: “{mailing.message}”."
                )
            except delivery.AlreadySending:
                # Another sender started it a moment ago: share that run instead.
                self.stdout.write(
                    f"Joining the run of mailing {mailing_id} another sender started."
                )

        to_do = delivery.claimable(now=timezone.now(), mailing_id=mailing.pk).count()
        to_do += Delivery.objects.filter(run__mailing=mailing, state=Delivery.State.CLAIMED).count()
        bar = ProgressBar(total=to_do, stream=self.stdout, label="sending")

        def on_progress(report: delivery.DeliveryReport) -> None:
            bar.update(
                report.attempted,
                f"sent {report.sent} failed {report.failed} retry {report.deferred}",
            )

        previous_handler = signal.signal(signal.SIGINT, self._stop_gracefully)
        try:
            report = delivery.deliver(
                mailing_id=mailing.pk, connections=connections, on_progress=on_progress
            )
        except KeyboardInterrupt:
            raise CommandError("Interrupted.", returncode=130) from None
        finally:
            signal.signal(signal.SIGINT, previous_handler)
        if not delivery.stop_requested.is_set():
            bar.finish(
                report.attempted,
                f"sent {report.sent} failed {report.failed} retry {report.deferred}",
            )
        delivery.finish_completed()

        skipped = max(0, to_do - report.attempted)
        self.stdout.write(
            f"Sent {report.sent}, failed {report.failed}, retry later {report.deferred}, "
            f"skipped {skipped} (taken by another sender or cancelled) "
            f"in {report.seconds:.2f} s ({report.rate:,.0f} msg/s)."
        )
        if delivery.stop_requested.is_set():
            raise CommandError(
                "Interrupted. What was sent is recorded; the rest stays queued for the "
                "scheduler (or run this command again).",
                returncode=130,
            )
        if report.attempted and not report.sent:
            raise CommandError(
                f"No message could be delivered. Last reply: {report.last_failure or 'none'}"
            )
