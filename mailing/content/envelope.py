"""What every campaign mail carries around its content, whatever kind of message it is.

`Envelope` is made once per run and gives the bounce address (MAIL FROM) and, per recipient,
the header lines that differ for each of them (To, Message-ID, Date). Every message class
(`plain.PlainMessage`, `rich.RichMessage`) takes its per-recipient headers from here, so a
header added for deliverability (List-Unsubscribe, a DKIM signature over the final message)
is added once, in `Envelope.recipient_headers`, for all of them.
"""

import time
from email.utils import formatdate, parseaddr

from django.core.mail.utils import DNS_NAME

from . import RecipientContext
from .headers import address_header


class Envelope:
    def __init__(self, *, from_email: str, run_id: int) -> None:
        self.from_email = from_email
        self.envelope_sender = parseaddr(from_email)[1]
        domain = self.envelope_sender.rpartition("@")[2] or DNS_NAME.get_fqdn()
        self._message_id_format = f"<mailing.{run_id}.{{}}@{domain}>"

    def recipient_headers(self, recipient: RecipientContext) -> bytes:
        """The headers that differ per recipient, in wire form. Header lines start with a
        name, never with a ".", so they need no dot-stuffing; a DKIM signature, computed over
        these and the rest, would be prepended here."""
        to = address_header("To", email=recipient.email, display_name=recipient.full_name)
        rest = f"Message-ID: {self.message_id(recipient.delivery_id)}\r\nDate: {_date_header()}\r\n"
        return to + rest.encode("ascii")

    def message_id(self, delivery_id: int) -> str:
        # Fixed per delivery: a retried or re-sent delivery carries the same id, so receiving
        # systems can recognise a duplicate.
        return self._message_id_format.format(delivery_id)


_date_cache: tuple[int, str] = (0, "")


def _date_header() -> str:
    """Now, as a Date header: a retry hours later says when it was sent, not rendered.

    formatdate costs about 17 µs, a few per cent of a sender's time at full speed, so the text
    is kept for the second it names."""
    global _date_cache
    now = time.time()
    second, text = _date_cache
    if second != int(now):
        text = formatdate(now, localtime=True)
        _date_cache = (int(now), text)
    return text
