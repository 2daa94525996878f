"""What deliverability keeps: the sending budget every sender process shares."""

from django.db import models


class SendBudget(models.Model):
    """How much of one window's cap the senders have reserved, per SMTP account and kind.

    One row per (account, kind): `period` names the current second (kind "second") or local
    day (kind "day"), and `used` what was reserved in it. Senders reserve in chunks with one
    upsert (`mailing.delivery.caps`), so the cap holds across processes."""

    account = models.CharField(max_length=300)
    kind = models.CharField(max_length=10)
    period = models.BigIntegerField()
    used = models.BigIntegerField(default=0)
    # Until when every sender sends at half speed (a server said "too many"), as epoch seconds.
    slow_until = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "kind"], name="mailing_sendbudget_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.kind} {self.period}: {self.used}"
