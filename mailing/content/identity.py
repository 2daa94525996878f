"""Who a campaign mail is from and how its recipient leaves: the headers every message class
adds per recipient, and the DKIM signature over them.

- `From` is the site's own address (DEFAULT_FROM_EMAIL: the domain SPF, DKIM and DMARC
  align on) with the owner's name from their profile as display name (the site's name when
  they have none); `Reply-To` the owner's address, or the mailing's own when it has one.
- `Message-ID` is on the site's mail domain (the domain of that address), fixed per delivery.
- `List-Unsubscribe` (the one-click link on SITE_URL, and a `mailto:` when
  MAILING_UNSUBSCRIBE_MAILBOX is set) and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`
  (RFC 8058), and the same link for the body (`Envelope.unsubscribe_url`).
- With DKIM configured (`dkim.configured_signer`), a DKIM-Signature covering all of these.

A message class builds one `Envelope` per run (`Envelope.for_run`), puts the headers and body
its recipients share into a `SharedPart` once, and per recipient calls `Envelope.assemble`
with the part of the body that is theirs (the unsubscribe footer, at least). Everything here
per recipient is string work and one RSA signature: no query, nothing that blocks.
"""

import time
from email.utils import formatdate, parseaddr
from typing import TYPE_CHECKING, NamedTuple

from django.conf import settings
from django.core.mail.utils import DNS_NAME
from django.utils.translation import gettext as _

from ..unsubscribe import unsubscribe_url
from . import RecipientContext, dot_stuff
from .dkim import BodyHash, Signer, configured_signer
from .headers import address_header

if TYPE_CHECKING:
    from mailing.models import Run


class SharedPart(NamedTuple):
    """What a run's recipients share: header fields (each CRLF-ended) and the start of the
    body, as message bytes (CRLF line ends, not dot-stuffed) and in wire form."""

    fields: list[bytes]
    head: bytes  # the fields, joined
    body_wire: bytes
    body_hash: BodyHash | None


class Envelope:
    """A run's sender identity, unsubscribe links and signer."""

    def __init__(
        self,
        *,
        owner_id: int,
        owner_name: str,
        reply_to: str,
        run_id: int,
        signer: Signer | None = None,
        from_email: str | None = None,
    ) -> None:
        site_name, site_address = parseaddr(from_email or settings.DEFAULT_FROM_EMAIL)
        self.owner_id = owner_id
        self.envelope_sender = site_address
        self.mail_domain = site_address.rpartition("@")[2] or DNS_NAME.get_fqdn()
        self.from_field = address_header(
            "From", email=site_address, display_name=owner_name or site_name
        )
        self.reply_to_field = address_header("Reply-To", email=reply_to) if reply_to else b""
        self.signer = signer
        self._message_id_format = f"<mailing.{run_id}.{{}}@{self.mail_domain}>"
        self._mailto = settings.MAILING_UNSUBSCRIBE_MAILBOX

    @classmethod
    def for_run(cls, run: "Run") -> "Envelope":
        """The envelope of `run` (its mailing and owner loaded with it)."""
        mailing = run.mailing
        owner = mailing.owner
        # A per-mailing Reply-To (validated where the mailing is saved) wins over the owner's.
        reply_to = getattr(mailing, "reply_to", "") or owner.email
        return cls(
            owner_id=owner.pk,
            owner_name=owner.get_full_name(),
            reply_to=reply_to,
            run_id=run.pk,
            signer=configured_signer(),
        )

    def shared(self, *, fields: list[bytes], body: bytes) -> SharedPart:
        """The shared part of a run's messages: the content's header `fields` (Subject,
        MIME-Version, Content-Type…) with From and Reply-To, and the shared `body`."""
        fields = [self.from_field, *([self.reply_to_field] if self.reply_to_field else []), *fields]
        return SharedPart(
            fields,
            b"".join(fields),
            dot_stuff(body) if body else b"",
            BodyHash(body) if self.signer is not None else None,
        )

    def unsubscribe_url(self, recipient: RecipientContext) -> str:
        return unsubscribe_url(owner_id=self.owner_id, email=recipient.email)

    def recipient_fields(self, recipient: RecipientContext, url: str) -> list[bytes]:
        """To, Message-ID, Date and both List-Unsubscribe headers for `recipient`."""
        unsubscribe = f"<{url}>"
        if self._mailto:
            unsubscribe += f", <mailto:{self._mailto}?subject=unsubscribe>"
        return [
            address_header("To", email=recipient.email, display_name=recipient.full_name),
            (
                f"Message-ID: {self.message_id(recipient.delivery_id)}\r\n"
                f"Date: {_date_header()}\r\n"
            ).encode("ascii"),
            f"List-Unsubscribe: {unsubscribe}\r\n".encode("ascii"),
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        ]

    def assemble(
        self, recipient: RecipientContext, shared: SharedPart, *, url: str, body_end: bytes
    ) -> bytes:
        """The whole message for `recipient` as SMTP DATA content: their headers, the shared
        ones, the shared body and `body_end` (message bytes, CRLF-ended complete lines), and
        the signature over it all when DKIM is on."""
        own = self.recipient_fields(recipient, url)
        head = b"".join(own) + shared.head
        if self.signer is not None and shared.body_hash is not None:
            # Message-ID and Date share one bytes object: split it for the signer.
            fields = [own[0], *own[1].splitlines(keepends=True), *own[2:], *shared.fields]
            head = self.signer.signature(fields, shared.body_hash.digest(body_end)) + head
        return head + b"\r\n" + shared.body_wire + (dot_stuff(body_end) if body_end else b"")

    def message_id(self, delivery_id: int) -> str:
        # Fixed per delivery: a retried or re-sent delivery carries the same id, so receiving
        # systems can recognise a duplicate.
        return self._message_id_format.format(delivery_id)


def unsubscribe_footer(url: str) -> str:
    """The visible unsubscribe lines at the end of a plain-text body."""
    return (
        "\n-- \n" + _("To stop receiving these emails, unsubscribe: %(url)s") % {"url": url} + "\n"
    )


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
