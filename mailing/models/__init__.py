"""Campaign data: what users own (recipients, messages, mailings) and what delivery records.

A `Mailing` is its owner's plan. Each due occurrence of it becomes a `Run` holding one
`Delivery` (the queue row) per recipient; every try to deliver one is an `Attempt`, and
`DailyStat` keeps per-mailing, per-day totals of attempts so reports never count millions of
rows. The delivery engine in `mailing.delivery` is the only code that moves deliveries.
"""

from .audience import Membership, RecipientList
from .campaigns import Mailing, Message, OwnedModel, Recipient, Suppression
from .deliverability import SendBudget
from .delivery import Attempt, DailyStat, Delivery, Run
from .digests import Digest
from .operations import Heartbeat

__all__ = [
    "Attempt",
    "DailyStat",
    "Delivery",
    "Digest",
    "Heartbeat",
    "Mailing",
    "Membership",
    "Message",
    "OwnedModel",
    "Recipient",
    "RecipientList",
    "Run",
    "SendBudget",
    "Suppression",
]
