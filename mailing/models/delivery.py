"""What delivery records: runs (occurrences), their queue rows, attempts and daily totals.

Only the engine in `mailing.delivery` writes these rows.
"""

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .campaigns import Mailing, Recipient


class Run(models.Model):
    """One occurrence of a mailing: the queue of one delivery per recipient."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", pgettext_lazy("what started a run", "Schedule")
        MANUAL = "manual", pgettext_lazy("what started a run", "Send now")

    owner_lookup: ClassVar[str] = "mailing__owner"
    mailing = models.ForeignKey(
        Mailing, on_delete=models.CASCADE, related_name="runs", verbose_name=_("mailing")
    )
    occurrence = models.DateTimeField(_("occurrence"))
    trigger = models.CharField(_("started by"), max_length=10, choices=Trigger.choices)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancel reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("run")
        verbose_name_plural = _("runs")
        ordering = ["-occurrence", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailing", "occurrence"], name="mailing_run_one_per_occurrence"
            ),
        ]
        indexes = [
            models.Index(
                fields=["mailing"],
                condition=Q(finished_at__isnull=True),
                name="mailing_run_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mailing} @ {self.occurrence:%Y-%m-%d %H:%M}"


class Delivery(models.Model):
    """The queue row for one recipient of one run; only `mailing.delivery` changes it."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        CLAIMED = "claimed", _("Being sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        # Never sent: the address is suppressed for the owner (the attempt says why).
        SKIPPED = "skipped", _("Skipped")

    owner_lookup: ClassVar[str] = "run__mailing__owner"
    # No index of its own: the unique (run, recipient) and the queue index start with run,
    # and every index is one more write per state change.
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    recipient = models.ForeignKey(Recipient, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    tries = models.PositiveSmallIntegerField(default=0)
    next_try_at = models.DateTimeField(default=timezone.now)
    claim_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "recipient"], name="mailing_delivery_once_per_run"
            ),
        ]
        indexes = [
            # One index for both reads of the queue: progress counts per (run, state), and
            # a claim, which reads one run's due deliveries in (next_try_at, id) order off it
            # and stops after a batch. With (run, state) alone every claim sorted the whole
            # run (O(N) a batch, O(N²) a run), and a second index beside it left the choice
            # to planner statistics that a freshly queued run does not have yet.
            models.Index(
                fields=["run", "state", "next_try_at", "id"], name="mailing_delivery_queue_idx"
            ),
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(state="claimed"),
                name="mailing_delivery_claimed_idx",
            ),
            # Only live claims: recording an outcome clears the token and then has no entry
            # to add here.
            models.Index(
                fields=["claim_token"],
                condition=Q(claim_token__isnull=False),
                name="mailing_delivery_claim_idx",
            ),
        ]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")

    def __str__(self) -> str:
        return f"Delivery #{self.pk} ({self.state})"


class Attempt(models.Model):
    """One try to deliver a mailing to a recipient, with the mail server's reply."""

    class Status(models.TextChoices):
        SUCCESS = "success", _("Success")
        FAILURE = "failure", _("Failure")
        SKIPPED = "skipped", _("Skipped")

    owner_lookup: ClassVar[str] = "mailing__owner"
    # Indexed through the (mailing, …) indexes below; one index fewer to write per attempt.
    mailing = models.ForeignKey(
        Mailing, on_delete=models.CASCADE, related_name="attempts", db_index=False
    )
    recipient = models.ForeignKey(
        Recipient, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts"
    )
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts"
    )
    # The address tried, kept when the recipient is later deleted.
    email = models.EmailField(_("email"), max_length=254)
    attempted_at = models.DateTimeField(_("time"), default=timezone.now)
    status = models.CharField(_("result"), max_length=10, choices=Status.choices)
    server_response = models.TextField(_("mail server's reply"), blank=True)

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        ordering = ["-attempted_at", "-pk"]
        indexes = [
            models.Index(fields=["mailing", "-attempted_at"]),
            models.Index(fields=["-attempted_at"]),
            models.Index(fields=["mailing", "status", "-attempted_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} → {self.email}"


class DailyStat(models.Model):
    """Attempts per mailing per (local) day, kept by the same commits that write attempts."""

    owner_lookup: ClassVar[str] = "mailing__owner"
    mailing = models.ForeignKey(Mailing, on_delete=models.CASCADE, related_name="daily_stats")
    day = models.DateField()
    successes = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailing", "day"], name="mailing_dailystat_unique"),
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.mailing_id} on {self.day}: {self.successes} ok, {self.failures} failed"
