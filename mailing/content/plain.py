"""A message of a subject and a plain-text body: rendered once per run, per recipient only the
envelope's headers (`envelope.Envelope`: To, Message-ID, Date) are added in front of it."""

from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

from . import RecipientContext, dot_stuff
from .envelope import Envelope


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
        self.envelope = Envelope(from_email=from_email, run_id=run_id)
        self.envelope_sender = self.envelope.envelope_sender
        # The part every recipient shares, in wire form once: headers and body stay as they are
        # for each of them, so they need no stuffing again.
        self._tail = dot_stuff(message.as_bytes())

    def render(self, recipient: RecipientContext) -> bytes:
        return self.recipient_headers(recipient) + self._tail

    def recipient_headers(self, recipient: RecipientContext) -> bytes:
        """The headers that differ per recipient (`Envelope.recipient_headers`, shared by
        every kind of message)."""
        return self.envelope.recipient_headers(recipient)

    def message_id(self, delivery_id: int) -> str:
        return self.envelope.message_id(delivery_id)
