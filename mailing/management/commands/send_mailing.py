"""Deliver one mailing in the foreground, with a progress bar and a summary.

Safe beside the scheduler and other senders: deliveries are claimed, so the processes share
the run and nobody gets the same occurrence twice.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from mailing import delivery
from mailing.management.graceful import GracefulStop
from mailing.management.progress import ProgressBar
from mailing.models import Mailing


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _counts(report: delivery.DeliveryReport) -> str:
    return f"sent {report.sent} failed {report.failed} retry {report.deferred}"


class Command(BaseCommand):
    help = "Send mailing <id> now: its open run, or a new one. Exits non-zero when it cannot."
    # A sender process starts in a fraction of a second; the checks import every URL and view.
    requires_system_checks: list[str] = []

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
        bar: ProgressBar | None = None

        def on_start(mailing: Mailing, started_run: bool, expected: int) -> None:
            nonlocal bar
            what = "Started a new run" if started_run else "Continuing the open run"
            self.stdout.write(f"{what} of mailing {mailing_id}: “{mailing.message}”.")
            bar = ProgressBar(total=expected, stream=self.stdout, label="sending")

        def on_progress(report: delivery.DeliveryReport) -> None:
            bar.update(report.attempted, _counts(report))  # type: ignore[union-attr]

        with GracefulStop(notice=self.stderr.write) as stop:
            try:
                report = delivery.send_mailing(
                    mailing_id=mailing_id,
                    connections=connections,
                    on_start=on_start,
                    on_progress=on_progress,
                )
            except delivery.UnknownMailing as refusal:
                raise CommandError(str(refusal)) from None
            except delivery.CannotSend as refusal:
                raise CommandError(f"Mailing {mailing_id} not sent: {refusal}") from None
            except KeyboardInterrupt:
                raise CommandError("Stopped at once.", returncode=stop.exit_code) from None
            except DatabaseError as exc:
                raise CommandError(
                    f"Mailing {mailing_id}: database error: {_one_line(exc)}"
                ) from exc
            except Exception as exc:
                raise CommandError(
                    f"Mailing {mailing_id}: sending failed: {_one_line(exc)}. What was sent is "
                    "recorded; the rest is sent by the scheduler (or by this command again)."
                ) from exc
        if stop.signum is None and bar is not None:
            # What was done, not 100%: another sender may have taken part of the run.
            bar.finish(report.attempted, _counts(report))
        skipped = max(0, report.expected - report.attempted)
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
