"""What users own: recipients, messages, mailings, and the addresses they must not mail."""

from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..validators import validate_name, validate_single_line

if TYPE_CHECKING:
    from .audience import RecipientList


class OwnedModel(models.Model):
    # How a row reaches its owner, for the permission rule (`core.roles.objects_for`); the
    # delivery records below reach it through their mailing.
    owner_lookup: ClassVar[str] = "owner"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("owner"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True


class Recipient(OwnedModel):
    """A person a user mails; the address is unique per owner, whatever its case."""

    email = models.EmailField(_("email"), max_length=254)
    full_name = models.CharField(_("full name"), max_length=200, validators=[validate_name])
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
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

    email = models.EmailField(_("email"), max_length=254)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    # What caused it, for the owner: the server's reply to a bounce, the page of an unsubscribe.
    detail = models.TextField(_("detail"), blank=True)

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppressed addresses")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                F("owner"), Lower("email"), name="mailing_suppression_owner_email_ci_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_reason_display()})"


class Message(OwnedModel):
    """A subject and a body that mailings send: Markdown (sent as HTML with a text part, with
    personalisation, see `mailing.content.rich`) or, for messages written before that, plain
    text sent as it is."""

    class Format(models.TextChoices):
        MARKDOWN = "markdown", _("Markdown (HTML and text)")
        PLAIN = "plain", _("Plain text, sent as written")

    subject = models.CharField(_("subject"), max_length=255, validators=[validate_single_line])
    body = models.TextField(_("body"))
    # Rows written before Markdown existed are plain; the services write Markdown by default.
    format = models.CharField(
        _("format"), max_length=10, choices=Format.choices, default=Format.PLAIN
    )

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return self.subject


class Mailing(OwnedModel):
    """A message sent to a set of recipients once or every day, week or month until `end_at`."""

    class Periodicity(models.TextChoices):
        ONCE = "once", _("Once")
        DAILY = "daily", _("Daily")
        WEEKLY = "weekly", _("Weekly")
        MONTHLY = "monthly", _("Monthly")

    class Status(models.TextChoices):
        CREATED = "created", _("Created")
        LAUNCHED = "launched", _("Launched")
        FINISHED = "finished", _("Finished")

    # What the owner calls it in lists and reports (the services default it to the message's
    # subject); empty only for rows stored without a service, which show as "Mailing #id".
    name = models.CharField(_("name"), max_length=200, blank=True, validators=[validate_name])
    # RESTRICT, not PROTECT: a message in use cannot be deleted on its own, but it goes with
    # its mailings when both are deleted together (their owner's account is deleted).
    message = models.ForeignKey(
        Message, on_delete=models.RESTRICT, related_name="mailings", verbose_name=_("message")
    )
    # A mailing needs recipients, lists or both (the rule is in mailing.services.mailings);
    # who a run reaches is resolved when it starts, by mailing.audience.
    recipients = models.ManyToManyField(
        Recipient, related_name="mailings", blank=True, verbose_name=_("recipients")
    )
    lists: "models.ManyToManyField[RecipientList, Any]" = models.ManyToManyField(
        "RecipientList", related_name="mailings", verbose_name=_("lists"), blank=True
    )
    first_send_at = models.DateTimeField(_("first send"))
    end_at = models.DateTimeField(_("end"))
    periodicity = models.CharField(
        _("periodicity"), max_length=10, choices=Periodicity.choices, default=Periodicity.ONCE
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.CREATED
    )
    # Where replies go instead of the owner's address (empty: the owner's).
    reply_to = models.EmailField(_("Reply-To"), max_length=254, blank=True)

    class Content(models.TextChoices):
        MESSAGE = "message", _("The message")
        NEW_POSTS = "new_posts", _("New blog posts (a digest)")

    # A digest mails, at each occurrence, the blog posts published since the last one that sent
    # any, after the message (its subject and introduction); see mailing.digests.
    content = models.CharField(
        _("content"), max_length=10, choices=Content.choices, default=Content.MESSAGE
    )
    # Occurrences are counted from the anchor (first_send_at, or the time the owner last
    # scheduled); next_send_at is the next one the scheduler will start, None when none is left.
    schedule_anchor = models.DateTimeField(_("schedule anchor"))
    next_send_at = models.DateTimeField(_("next send"), null=True, blank=True)
    is_disabled = models.BooleanField(_("disabled by a manager"), default=False)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("disabled by"),
    )
    # Paused by its owner: its queue is held (not cancelled) and no occurrence starts until
    # it is resumed (`mailing.services.mailing_pause` / `mailing_resume`).
    paused_at = models.DateTimeField("paused", null=True, blank=True)

    class Meta:
        verbose_name = _("mailing")
        verbose_name_plural = _("mailings")
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
            ("view_all_campaigns", _("Can view every user's campaigns (read-only)")),
            ("disable_mailing", _("Can disable any mailing")),
        ]

    def __str__(self) -> str:
        return self.name or gettext("Mailing #%(number)s") % {"number": self.pk}

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.LAUNCHED and not self.is_disabled

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None
