"""Writes on messages: write, edit, delete."""

from django.db import transaction
from django.utils.translation import gettext

from core.refusals import ActionRefused
from core.roles import ensure_can_write
from users.models import User

from .. import cache
from ..content.templating import TemplateError, parse
from ..models import Message
from .common import collect, in_flight, log_deleted, log_event


def template_errors(message: Message) -> dict[str, list[str]]:
    """What is wrong with the personalisation in a Markdown message's subject and body, by
    field (`mailing.content.templating`): refused here, when it is saved, so that nothing
    can fail at send time. A plain message is sent as written and has none."""
    errors: dict[str, list[str]] = {}
    if message.format != Message.Format.MARKDOWN:
        return errors
    for field in ("subject", "body"):
        try:
            parse(getattr(message, field))
        except TemplateError as error:
            errors[field] = [str(error)]
    return errors


@transaction.atomic
def message_create(
    *, owner: User, subject: str, body: str, format: str = Message.Format.MARKDOWN
) -> Message:
    """Write a message for `owner`'s mailings (Markdown unless `format` says plain).

    Raises PermissionDenied when `owner` may not write, and a ValidationError naming the
    field for a subject that is not one line of plain text, or an empty one, and for a
    subject or body whose variables or braces are not a template (`template_errors`)."""
    ensure_can_write(owner)
    message = Message(owner=owner, subject=subject, body=body, format=format)
    collect(template_errors(message), message, exclude=["owner"])
    message.save()
    cache.bump(owner_id=owner.pk)
    log_event(message, "created", owner)
    return message


@transaction.atomic
def message_update(
    *,
    user: User,
    message: Message,
    subject: str | None = None,
    body: str | None = None,
    format: str | None = None,
) -> Message:
    """Change what is given of `message` (None leaves a field as it is). Refused while a
    mailing that uses it is being sent: recipients of one run get one text."""
    ensure_can_write(user, message)
    if in_flight(message.mailings.all()):
        raise ActionRefused(
            gettext("This message is being sent right now; edit it when sending is done.")
        )
    given = {"subject": subject, "body": body, "format": format}
    fields = [name for name, value in given.items() if value is not None]
    for name in fields:
        setattr(message, name, given[name])
    collect(template_errors(message), message, exclude=["owner"])
    message.save(update_fields=[*fields, "updated_at"])
    cache.bump(owner_id=message.owner_id)
    log_event(message, "updated", user)
    return message


@transaction.atomic
def message_delete(*, user: User, message: Message) -> None:
    """Delete a message no mailing uses; one in use is refused with the mailings' numbers
    (the database would refuse too: Mailing.message is RESTRICT)."""
    ensure_can_write(user, message)
    in_use = list(message.mailings.values_list("pk", flat=True)[:5])
    if in_use:
        names = ", ".join(f"#{pk}" for pk in in_use)
        raise ActionRefused(
            gettext("This message is used by mailing %(mailings)s; delete those first.")
            % {"mailings": names}
        )
    owner_id, pk = message.owner_id, message.pk
    message.delete()
    cache.bump(owner_id=owner_id)
    log_deleted(Message, pk, user)
