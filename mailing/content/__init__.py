"""What a mailing's message looks like on the wire: the boundary between content and delivery.

The delivery engine asks twice, and only through this module:

1. once per run, `prepare(run)` → a `PreparedMessage`: everything that is the same for every
   recipient (parsed, rendered, encoded) is done here, once;
2. per recipient, `message.render(recipient)` → the bytes to send, given a `RecipientContext`
   of plain values (no model instances, no queries: it runs on the sender's event loop, once
   per message, so it must be cheap and must not block).

The bytes are the message as SMTP's DATA carries it: CRLF line ends, dot-stuffed
(`dot_stuff`), ending in CRLF, without the final ".". Per-recipient headers (To, Message-ID,
Date, List-Unsubscribe / List-Unsubscribe-Post, and a DKIM-Signature over the final message)
are made by `identity.Envelope`, which every message class calls from `render`.

`prepare` raises (anything) when the message cannot be built; the engine then fails each of
the run's deliveries once with the reason instead of retrying what no retry can fix. An
exception from `render` fails that one delivery the same way.

Today a message is its subject and plain-text body (`plain.PlainMessage`); the content
pipeline (Markdown, sanitised HTML, inlined CSS, a text part, per-recipient variables) replaces
`prepare` and the class it returns, and nothing in the engine changes.
"""

import re
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from mailing.models import Run


class RecipientContext(NamedTuple):
    """What a message may know of the one recipient it is rendered for.

    Fields are plain values from the delivery's queue row; add one here when the engine
    reads it there too (values derived from these, such as an unsubscribe URL signed from
    `recipient_id` and the mailing, are the message's to compute)."""

    email: str
    full_name: str
    # Fixed per delivery: a retry or a re-send carries the same Message-ID.
    delivery_id: int
    recipient_id: int


class PreparedMessage(Protocol):
    """A run's message, prepared once; rendered per recipient."""

    #: The address MAIL FROM names (the bounce address).
    envelope_sender: str

    def render(self, recipient: RecipientContext) -> bytes:
        """The message for `recipient` as SMTP DATA content (CRLF, dot-stuffed, CRLF-ended)."""
        ...


def prepare(run: "Run") -> PreparedMessage:
    """The message of `run`, prepared once for all its deliveries.

    Reads `run.mailing.message` and `run.mailing.owner`: load them with the run
    (`select_related("mailing__message", "mailing__owner")`)."""
    from .identity import Envelope
    from .plain import PlainMessage

    mailing = run.mailing
    return PlainMessage(
        subject=mailing.message.subject,
        body=mailing.message.body,
        envelope=Envelope.for_run(run),
    )


_LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")
_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")


def dot_stuff(data: bytes) -> bytes:
    """`data` (any line ends) in SMTP's DATA form: CRLF line ends, a "." doubled at the start
    of a line (RFC 5321 §4.5.2), ending in CRLF.

    Costs a few microseconds for a small message: do it once per run on what does not change,
    and per recipient only on what does."""
    data = _DOT_AT_LINE_START.sub(b"..", _LINE_END.sub(b"\r\n", data))
    return data if data.endswith(b"\r\n") else data + b"\r\n"
