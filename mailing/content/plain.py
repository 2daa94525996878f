"""A message of a subject and a plain-text body: rendered once per run, per recipient only the
To, Message-ID and Date headers are added in front of it."""

import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, parseaddr

from django.core.mail.utils import DNS_NAME

from . import RecipientContext, dot_stuff
from .headers import address_header


class PlainMessage:
    def __init__(
        self, *, subject: str, body: str, from_email: str, reply_to: str | None, run_id: int
    ) -> None:
        message = EmailMessage(policy=SMTP_POLICY)
        message["Subject"] = subject  # the email package refuses line breaks here too
        message["From"] = from_email
        if reply_to:
            message["Reply-To"] = reply_to
        # No Date here: it is the time of sending, added per recipient.
        message.set_content(body, cte="quoted-printable")
        self.subject = subject
        self.body = body
        self.from_email = from_email
        self.reply_to = reply_to
        self.envelope_sender = parseaddr(from_email)[1]
        self._message_id_format = f"<mailing.{run_id}.{{}}@{self.envelope_sender.rpartition('@')[2] or DNS_NAME.get_fqdn()}>"
        # The part every recipient shares, in wire form once: headers and body stay as they are
        # for each of them, so they need no stuffing again.
        self._tail = dot_stuff(message.as_bytes())

    def render(self, recipient: RecipientContext) -> bytes:
        return self.recipient_headers(recipient) + self._tail

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
