"""What a message looks like to a recipient, before it is sent: the message page's preview.

A read: it renders through the same pipeline as a run (`mailing.content`), for a sample
recipient (the owner's first recipient, or the owner when they have none), and writes nothing.
"""

from dataclasses import dataclass

from core.roles import objects_for
from users.models import User

from .content import RecipientContext
from .content.rich import RichMessage
from .content.templating import TemplateError
from .models import Message, Recipient
from .web import web_url


@dataclass(frozen=True)
class Preview:
    subject: str
    text: str
    # None for a plain message: it has no HTML part.
    html: str | None
    sample_name: str
    sample_email: str


def sample_recipient(*, user: User, owner: User) -> RecipientContext:
    """Whom the preview is rendered for: `owner`'s first recipient (as `user` may see them),
    or `owner` themselves."""
    first = (
        objects_for(user, Recipient)
        .filter(owner=owner)
        .order_by("email", "pk")
        .values_list("email", "full_name", "pk")
        .first()
    )
    if first is None:
        return RecipientContext(owner.email, owner.get_full_name(), 0, 0)
    email, full_name, pk = first
    return RecipientContext(email, full_name, 0, pk)


def message_preview(*, user: User, message: Message) -> Preview:
    """`message` as its sample recipient gets it (`message.owner` loaded with it)."""
    owner = message.owner
    sample = sample_recipient(user=user, owner=owner)
    if message.format != Message.Format.MARKDOWN:
        return Preview(message.subject, message.body, None, sample.full_name, sample.email)
    try:
        rich = RichMessage(
            subject=message.subject,
            body=message.body,
            from_email="preview@localhost",
            reply_to="",
            run_id=0,
            owner_id=owner.pk,
            web_url=web_url(message_id=message.pk),
        )
    except TemplateError as error:  # a row the services did not write
        return Preview(message.subject, str(error), None, sample.full_name, sample.email)
    subject, text, html = rich.parts(rich.context(sample))
    return Preview(subject, text, html, sample.full_name, sample.email)
