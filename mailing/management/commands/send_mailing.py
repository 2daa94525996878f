"""Deliver one mailing in the foreground, with a progress bar and a summary.

Safe beside the scheduler and other senders: deliveries are claimed, so the processes share
the run and nobody gets the same occurrence twice.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from mailing import delivery
from mailing.management.graceful import GracefulStop
from mailing.management.progress import ProgressBar
from mailing.models import Delivery, Mailing


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


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

    def handle(self, *args, mailing_id: int, connections: int | None, **options) -> None:
        try:
            self._send(mailing_id, connections)
        except DatabaseError as exc:
            raise CommandError(f"Mailing {mailing_id}: database error: {_one_line(exc)}") from exc

    def _send(self, mailing_id: int, connections: int | None) -> None:
        mailing = Mailing.objects.select_related("message").filter(pk=mailing_id).first()
        if mailing is None:
            raise CommandError(f"Mailing {mailing_id} does not exist.")
        try:
            delivery.start_run(mailing=mailing)
            self.stdout.write(f"Started a new run of mailing {mailing_id}: “{mailing.message}”.")
        except delivery.AlreadySending:
            # Its open run (another sender may be on it too: the claims make them share).
            self.stdout.write(
                f"Continuing the open run of mailing {mailing_id}: “{mailing.message}”."
            )
        except delivery.CannotSend as refusal:
            raise CommandError(f"Mailing {mailing_id} not sent: {refusal}") from None
        # After a crash with no scheduler running, the dead sender's claims come back here
        # once their lease is over, so that running this command again finishes the run.
        delivery.requeue_expired_claims(mailing_id=mailing.pk)

        to_do = delivery.claimable(now=timezone.now(), mailing_id=mailing.pk).count()
        to_do += Delivery.objects.filter(run__mailing=mailing, state=Delivery.State.CLAIMED).count()
        bar = ProgressBar(total=to_do, stream=self.stdout, label="sending")

        def on_progress(report: delivery.DeliveryReport) -> None:
            bar.update(
                report.attempted,
                f"sent {report.sent} failed {report.failed} retry {report.deferred}",
            )

        with GracefulStop(notice=self.stderr.write) as stop:
            try:
                report = delivery.deliver(
                    mailing_id=mailing.pk, connections=connections, on_progress=on_progress
                )
            except KeyboardInterrupt:
                raise CommandError("Stopped at once.", returncode=stop.exit_code) from None
            except DatabaseError:
                raise
            except Exception as exc:
                raise CommandError(
                    f"Mailing {mailing_id}: sending failed: {_one_line(exc)}. What was sent is "
                    "recorded; the rest is sent by the scheduler (or by this command again)."
                ) from exc
        if stop.signum is None:
            # What was done, not 100%: another sender may have taken part of the run.
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
        if stop.signum is not None:
            raise CommandError(
                "Interrupted. What was sent is recorded; the rest stays queued for the "
                "scheduler (or run this command again).",
                returncode=stop.exit_code,
            )
        if report.attempted and not report.sent:
            raise CommandError(
                f"No message could be delivered. Last reply: {report.last_failure or 'none'}"
            )
