"""Copies: a message or a mailing duplicated as a new one of the same owner, to edit.

A copied mailing is a plan nobody has started: status `created`, no next send, so the
scheduler leaves it alone until its owner schedules it, edits its first send or sends it now.
Its recipients (and every other many-to-many target, lists included) are copied in the
database, one INSERT … SELECT per relation, however many there are.
"""

from typing import Any

from django.db import connection, transaction
from django.db.models import ManyToManyField
from django.utils.translation import gettext

from core.refusals import ActionRefused
from core.roles import ensure_can_write
from users.models import User

from .. import cache
from ..models import Mailing, Message
from .common import log_event

_NOT_COPIED = {
    "id",
    "created_at",
    "updated_at",
    "name",
    "status",
    "schedule_anchor",
    "next_send_at",
    "is_disabled",
    "disabled_at",
    "disabled_by",
}


def _copy_name(text: str, *, max_length: int) -> str:
    """ "<text> (copy)", cut so that it fits."""
    suffix = gettext(" (copy)")
    return text[: max_length - len(suffix)].rstrip() + suffix


@transaction.atomic
def message_duplicate(*, user: User, message: Message) -> Message:
    """A new message of `message`'s owner with the same body and the subject marked as a
    copy. Raises PermissionDenied unless `user` may write `message`."""
    ensure_can_write(user, message)
    max_length = Message._meta.get_field("subject").max_length or 255
    copy = Message.objects.create(
        owner_id=message.owner_id,
        subject=_copy_name(message.subject, max_length=max_length),
        body=message.body,
    )
    cache.bump(owner_id=message.owner_id)
    log_event(copy, "duplicated", user, source_id=message.pk)
    return copy


@transaction.atomic
def mailing_duplicate(*, user: User, mailing: Mailing) -> Mailing:
    """A new mailing of `mailing`'s owner: the same message, recipients, times and
    periodicity, the name marked as a copy, not launched and with no next send (it never
    sends by itself). Raises PermissionDenied unless `user` may write `mailing`, and
    ActionRefused for a mailing a manager disabled (a copy would undo the disable)."""
    ensure_can_write(user, mailing)
    if mailing.is_disabled:
        raise ActionRefused(gettext("A mailing disabled by a manager cannot be copied."))
    max_length = Mailing._meta.get_field("name").max_length or 200
    # Every field of the plan as it is (message, times, periodicity, Reply-To, and whatever
    # the model gains), but not its state: not launched, no next send, not disabled.
    copy = Mailing(
        **{
            field.attname: getattr(mailing, field.attname)
            for field in Mailing._meta.concrete_fields
            if field.name not in _NOT_COPIED
        }
    )
    copy.name = _copy_name(str(mailing), max_length=max_length)
    copy.status = Mailing.Status.CREATED
    # An anchor and no next send: the plan signal leaves it so, the scheduler skips it.
    copy.schedule_anchor, copy.next_send_at = mailing.first_send_at, None
    copy.save()
    for field in Mailing._meta.many_to_many:
        _copy_links(field, source_id=mailing.pk, target_id=copy.pk)
    cache.bump(owner_id=mailing.owner_id)
    log_event(copy, "duplicated", user, source_id=mailing.pk)
    return copy


def _copy_links(field: ManyToManyField, *, source_id: int, target_id: int) -> None:
    """The links of mailing `source_id` through `field`, copied to `target_id` in one query."""
    through: Any = field.remote_field.through
    if not through._meta.auto_created:  # a through model of its own: copy its rows whole
        own_field = field.m2m_field_name()
        rows = through.objects.filter(**{f"{own_field}_id": source_id}).values()
        through.objects.bulk_create(
            through(**{**row, "id": None, f"{own_field}_id": target_id})
            for row in rows.iterator(chunk_size=2000)
        )
        return
    table = connection.ops.quote_name(through._meta.db_table)
    own = connection.ops.quote_name(through._meta.get_field(field.m2m_field_name()).column)
    other = connection.ops.quote_name(
        through._meta.get_field(field.m2m_reverse_field_name()).column
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({own}, {other}) SELECT %s, {other} FROM {table} WHERE {own} = %s",
            [target_id, source_id],
        )
