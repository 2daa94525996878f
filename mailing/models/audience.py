"""Who a mailing reaches besides single recipients: its owner's named lists and their members.

A `RecipientList` groups recipients (a recipient may be in several lists). A `Membership` says
a recipient is in a list and on what grounds: recipients the owner adds by hand or by import
are `confirmed` at once (the owner answers for their consent); `pending` ones come only from the
public sign-up page of a list with `is_public`, and become `confirmed` when the person follows
the link mailed to them. Only confirmed members are mailed; a mailing's recipient set is
resolved when a run starts (`mailing.audience`), so people who joined since are included.
"""

import secrets
from typing import ClassVar

from django.db import models
from django.db.models import F
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from ..validators import validate_name
from .campaigns import OwnedModel, Recipient


def new_public_key() -> str:
    """A random, unguessable key for a list's public sign-up address (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


class RecipientList(OwnedModel):
    """A named group of its owner's recipients; the name is unique per owner, whatever its case."""

    name = models.CharField(_("name"), max_length=200, validators=[validate_name])
    description = models.TextField(_("description"), blank=True)
    # A public list has a sign-up page at an address made of `public_key`, not of the pk, so
    # nobody finds the lists of others by counting.
    is_public = models.BooleanField(_("public sign-up"), default=False)
    public_key = models.CharField(
        max_length=32, unique=True, default=new_public_key, editable=False
    )
    members: "models.ManyToManyField[Recipient, Membership]" = models.ManyToManyField(
        Recipient, through="Membership", related_name="recipient_lists", blank=True
    )

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("list")
        verbose_name_plural = _("lists")
        constraints = [
            models.UniqueConstraint(
                F("owner"), Lower("name"), name="mailing_recipientlist_owner_name_ci_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A recipient in a list; `pending` until a public sign-up is confirmed, with its consent."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending confirmation")
        CONFIRMED = "confirmed", _("Confirmed")

    owner_lookup: ClassVar[str] = "list__owner"

    list = models.ForeignKey(RecipientList, on_delete=models.CASCADE, related_name="memberships")
    recipient = models.ForeignKey(Recipient, on_delete=models.CASCADE, related_name="memberships")
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.CONFIRMED
    )
    # Consent, as the person gave it: when, on which page (or "import", "dashboard"), from where.
    consented_at = models.DateTimeField(_("consented at"), null=True, blank=True)
    consent_source = models.TextField(_("consent source"), blank=True)
    consent_ip = models.GenericIPAddressField(_("consent IP address"), null=True, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("list member")
        verbose_name_plural = _("list members")
        constraints = [
            models.UniqueConstraint(
                fields=["list", "recipient"], name="mailing_membership_one_per_list"
            ),
        ]
        indexes = [
            # Run-time resolution reads the confirmed members of a mailing's lists.
            models.Index(fields=["list", "status"], name="mailing_membership_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id} in {self.list_id} ({self.status})"
