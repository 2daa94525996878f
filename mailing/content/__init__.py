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

A message is Markdown (`rich.RichMessage`: personalised through `templating`, sanitised
HTML with inlined CSS in the site's layout, and a text part) or, written before that, plain
text (`plain.PlainMessage`). Both take their per-recipient headers from `envelope.Envelope`.
"""

import re
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from mailing.models import Message, Run

    from .identity import Envelope


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

    mailing = run.mailing
    suffix = ""
    if mailing.content == mailing.Content.NEW_POSTS:
        from mailing.digests import digest_markdown

        suffix = digest_markdown(run)
    return prepare_message(
        message=mailing.message, envelope=Envelope.for_run(run), body_suffix=suffix
    )


def prepare_message(
    *,
    message: "Message",
    envelope: "Envelope",
    subject_prefix: str = "",
    body_suffix: str = "",
) -> PreparedMessage:
    """`message` as sent with `envelope` (its sender, Reply-To, unsubscribe links and DKIM
    signer). A Markdown message becomes a `rich.RichMessage` (HTML and text, personalised); a
    plain one, as written before Markdown existed, a `plain.PlainMessage`. `subject_prefix`
    goes in front of the subject as typed (a test send's mark); `body_suffix`, Markdown, after
    the body (a digest's posts: a plain message then goes out as HTML too, its text escaped)."""
    from mailing.models import Message

    if message.format == Message.Format.MARKDOWN or body_suffix:
        from mailing.web import web_url

        from .rich import RichMessage
        from .templating import literal

        subject, body = message.subject, message.body
        if message.format != Message.Format.MARKDOWN:
            # Plain text was never a template: its braces stay as they are.
            from blog.email import plain_as_html

            subject, body = literal(subject), plain_as_html(body)
        return RichMessage(
            subject=subject_prefix + subject,
            body=body + "\n\n" + body_suffix if body_suffix else body,
            envelope=envelope,
            web_url=web_url(message_id=message.pk),
        )
    from .plain import PlainMessage

    return PlainMessage(
        subject=subject_prefix + message.subject, body=message.body, envelope=envelope
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
