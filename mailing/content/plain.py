"""A message of a subject and a plain-text body: rendered once per run; per recipient only
their headers (`identity.Envelope`: To, Message-ID, Date, both List-Unsubscribe headers, the
DKIM signature) and the unsubscribe footer at the end of the body are added."""

from email import quoprimime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

from . import RecipientContext
from .dkim import split_fields
from .identity import Envelope, unsubscribe_footer

_URL = "\x00url\x00"


class PlainMessage:
    def __init__(
        self,
        *,
        subject: str,
        body: str,
        envelope: Envelope | None = None,
        # Without an envelope: one from these (tests, the benchmark's wire message).
        from_email: str | None = None,
        reply_to: str = "",
        run_id: int = 0,
        owner_id: int = 0,
    ) -> None:
        if envelope is None:
            envelope = Envelope(
                owner_id=owner_id,
                owner_name="",
                reply_to=reply_to,
                run_id=run_id,
                from_email=from_email,
            )
        message = EmailMessage(policy=SMTP_POLICY)
        message["Subject"] = subject  # the email package refuses line breaks here too
        # No Date here: it is the time of sending, added per recipient.
        message.set_content(body, cte="quoted-printable")
        head, _, encoded_body = message.as_bytes().partition(b"\r\n\r\n")
        self.subject = subject
        self.body = body
        self.envelope = envelope
        self.envelope_sender = envelope.envelope_sender
        # The part every recipient shares, in wire form once.
        self._shared = envelope.shared(fields=split_fields(head + b"\r\n"), body=encoded_body)
        self._footer = unsubscribe_footer(_URL)  # translated once per run

    def render(self, recipient: RecipientContext) -> bytes:
        envelope = self.envelope
        url = envelope.unsubscribe_url(recipient)
        footer = self._footer.replace(_URL, url).encode("utf-8").decode("latin-1")
        body_end = quoprimime.body_encode(footer, 76, eol="\r\n").encode("ascii")
        if not body_end.endswith(b"\r\n"):
            body_end += b"\r\n"
        return envelope.assemble(recipient, self._shared, url=url, body_end=body_end)

    def message_id(self, delivery_id: int) -> str:
        return self.envelope.message_id(delivery_id)
