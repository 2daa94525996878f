"""A message of a subject and a plain-text body: rendered once per run, per recipient only the
To, Message-ID and Date headers are added in front of it."""

import re
import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate, parseaddr

from django.core.mail.utils import DNS_NAME

from . import RecipientContext, dot_stuff

# C0 and C1 control characters, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Anything formataddr would quote or escape (email.utils' specials, a backslash, a quote) and
# control characters: such a name goes the long way.
_NEEDS_FORMATTING = re.compile(r'[][\\()<>@,:;".\x00-\x1f\x7f]')


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
        return (
            f"To: {self.to_header(email=recipient.email, full_name=recipient.full_name)}\r\n"
            f"Message-ID: {self.message_id(recipient.delivery_id)}\r\n"
            f"Date: {_date_header()}\r\n"
        ).encode("ascii")

    @staticmethod
    def to_header(*, email: str, full_name: str) -> str:
        if full_name.isascii() and not _NEEDS_FORMATTING.search(full_name):
            # What formataddr would make of a plain name, in a tenth of its time.
            return f"{full_name} <{email}>" if full_name else email
        # Whatever the database holds, a display name never breaks the header: a CR or LF
        # would start new header lines, and (as the head is not dot-stuffed) even whole SMTP
        # commands. formataddr quotes but keeps them, so every control character becomes a space.
        return formataddr((_CONTROL.sub(" ", full_name), email), charset="utf-8")

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
