"""Campaign data: what users own (recipients, messages, mailings) and what delivery records.

A `Mailing` is its owner's plan. Each due occurrence of it becomes a `Run` holding one
`Delivery` (the queue row) per recipient; every try to deliver one is an `Attempt`, and
`DailyStat` keeps per-mailing, per-day totals of attempts so reports never count millions of
rows. The delivery engine in `mailing.delivery` is the only code that moves deliveries.
"""

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .validators import validate_name, validate_single_line


class OwnedModel(models.Model):
    # How a row reaches its owner, for the permission rule (`core.roles.objects_for`); the
    # delivery records below reach it through their mailing.
    owner_lookup: ClassVar[str] = "owner"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Recipient(OwnedModel):
    """A person a user mails; the address is unique per owner, whatever its case."""

    email = models.EmailField(max_length=254)
    full_name = models.CharField(max_length=200, validators=[validate_name])
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["email", "pk"]
        constraints = [
            models.UniqueConstraint(
                F("owner"), Lower("email"), name="mailing_recipient_owner_email_ci_unique"
            ),
        ]
        indexes = [models.Index(fields=["owner", "email"])]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"


class Suppression(OwnedModel):
    """An address its owner must not mail again: the person unsubscribed, or it bounced.

    Kept by (owner, address), not by recipient: deleting the recipient, adding it again or
    importing it keeps the address suppressed. The delivery engine leaves suppressed
    addresses out of every run of the owner's mailings."""

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        BOUNCED = "bounced", _("Bounced")

    email = models.EmailField(max_length=254)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    # What caused it, for the owner: the server's reply to a bounce, the page of an unsubscribe.
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                F("owner"), Lower("email"), name="mailing_suppression_owner_email_ci_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_reason_display()})"


class Message(OwnedModel):
    """A subject and a plain-text body that mailings send."""

    subject = models.CharField(max_length=255, validators=[validate_single_line])
    body = models.TextField()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return self.subject


class Mailing(OwnedModel):
    """A message sent to a set of recipients once or every day, week or month until `end_at`."""

    class Periodicity(models.TextChoices):
        ONCE = "once", "Once"
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"

    class Status(models.TextChoices):
        CREATED = "created", "Created"
        LAUNCHED = "launched", "Launched"
        FINISHED = "finished", "Finished"

    # RESTRICT, not PROTECT: a message in use cannot be deleted on its own, but it goes with
    # its mailings when both are deleted together (their owner's account is deleted).
    message = models.ForeignKey(Message, on_delete=models.RESTRICT, related_name="mailings")
    recipients = models.ManyToManyField(Recipient, related_name="mailings")
    first_send_at = models.DateTimeField("first send")
    end_at = models.DateTimeField("end")
    periodicity = models.CharField(
        max_length=10, choices=Periodicity.choices, default=Periodicity.ONCE
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    # Occurrences are counted from the anchor (first_send_at, or the time the owner last
    # scheduled); next_send_at is the next one the scheduler will start, None when none is left.
    schedule_anchor = models.DateTimeField()
    next_send_at = models.DateTimeField(null=True, blank=True)
    is_disabled = models.BooleanField("disabled by a manager", default=False)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_at__gt=F("first_send_at")),
                name="mailing_mailing_end_after_first_send",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["owner", "status"]),
            models.Index(
                fields=["next_send_at"],
                condition=Q(next_send_at__isnull=False),
                name="mailing_due_idx",
            ),
        ]
        permissions = [
            ("view_all_campaigns", "Can view every user's campaigns (read-only)"),
            ("disable_mailing", "Can disable any mailing"),
        ]

    def __str__(self) -> str:
        return f"Mailing #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.LAUNCHED and not self.is_disabled


class Run(models.Model):
    """One occurrence of a mailing: the queue of one delivery per recipient."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Send now"

    owner_lookup: ClassVar[str] = "mailing__owner"
    mailing = models.ForeignKey(Mailing, on_delete=models.CASCADE, related_name="runs")
    occurrence = models.DateTimeField()
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)

    class Meta:
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
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Being sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    owner_lookup: ClassVar[str] = "run__mailing__owner"
    # No index of its own: the unique (run, recipient) and the queue index start with run,
    # and every index is one more write per state change.
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    recipient = models.ForeignKey(Recipient, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
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
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"Delivery #{self.pk} ({self.state})"


class Attempt(models.Model):
    """One try to deliver a mailing to a recipient, with the mail server's reply."""

    class Status(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

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
    email = models.EmailField(max_length=254)
    attempted_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices)
    server_response = models.TextField(blank=True)

    class Meta:
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
