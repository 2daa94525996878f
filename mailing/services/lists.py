"""Writes on lists: create, edit, delete, and add or remove members in bulk.

Recipients the owner puts in a list here (or by import) are confirmed members at once: the
owner answers for their consent, recorded as given on the dashboard. Pending members come only
from a list's public sign-up page.
"""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.roles import ensure_can_write
from users.models import User

from .. import cache
from ..delivery.records import db_datetime
from ..models import Membership, Recipient, RecipientList
from .common import collect, log_deleted, log_event

DUPLICATE_NAME = _("You already have a list with this name.")
BATCH = 2000


@transaction.atomic
def list_create(
    *, owner: User, name: str, description: str = "", is_public: bool = False
) -> RecipientList:
    """A new list of `owner`'s. Raises PermissionDenied when `owner` may not write and a
    ValidationError naming the field for an invalid name or one of theirs already (compared
    whatever its case)."""
    ensure_can_write(owner)
    recipient_list = RecipientList(
        owner=owner, name=name.strip(), description=description, is_public=is_public
    )
    _store(recipient_list)
    cache.bump(owner_id=owner.pk)
    log_event(recipient_list, "created", owner)
    return recipient_list


@transaction.atomic
def list_update(
    *,
    user: User,
    recipient_list: RecipientList,
    name: str | None = None,
    description: str | None = None,
    is_public: bool | None = None,
) -> RecipientList:
    """Change what is given of `recipient_list` (None leaves it); refusals as `list_create`."""
    ensure_can_write(user, recipient_list)
    given = {
        "name": None if name is None else name.strip(),
        "description": description,
        "is_public": is_public,
    }
    fields = [field for field, value in given.items() if value is not None]
    for field in fields:
        setattr(recipient_list, field, given[field])
    _store(recipient_list, fields=fields)
    cache.bump(owner_id=recipient_list.owner_id)
    log_event(recipient_list, "updated", user)
    return recipient_list


@transaction.atomic
def list_delete(*, user: User, recipient_list: RecipientList) -> None:
    """Delete a list and its memberships; its recipients stay (and mailings lose the list)."""
    ensure_can_write(user, recipient_list)
    owner_id, pk = recipient_list.owner_id, recipient_list.pk
    recipient_list.delete()
    cache.bump(owner_id=owner_id)
    log_deleted(RecipientList, pk, user)


@transaction.atomic
def list_add_recipients(
    *, user: User, recipient_list: RecipientList, recipient_ids: Iterable[int]
) -> int:
    """Put the given recipients of the list's owner in it as confirmed members, in bulk;
    those already in it stay as they are (a pending one becomes confirmed: the owner added
    them). Ids of other owners' recipients are refused. Returns how many were added."""
    ensure_can_write(user, recipient_list)
    ids = set(recipient_ids)
    own = set(
        Recipient.objects.filter(owner_id=recipient_list.owner_id, pk__in=ids).values_list(
            "pk", flat=True
        )
    )
    if own != ids:
        raise ValidationError({"recipients": gettext("Choose your own recipients only.")})
    members = Membership.objects.filter(list=recipient_list)
    before = members.count()
    add_members(recipient_list=recipient_list, recipient_ids=own, source="dashboard")
    added = members.count() - before
    cache.bump(owner_id=recipient_list.owner_id)
    log_event(recipient_list, "members_added", user, count=added)
    return added


def add_members(
    *, recipient_list: RecipientList, recipient_ids: Iterable[int], source: str
) -> None:
    """Confirmed memberships of `recipient_list` for `recipient_ids` (checked by the caller),
    one INSERT … SELECT per batch; pending ones among them become confirmed, confirmed ones
    stay as they are. Call it in a transaction."""
    now = db_datetime(timezone.now())
    ids = list(recipient_ids)
    qn = connection.ops.quote_name
    table, recipients = qn(Membership._meta.db_table), qn(Recipient._meta.db_table)
    confirmed, pending = Membership.Status.CONFIRMED.value, Membership.Status.PENDING.value
    with connection.cursor() as cursor:
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} (list_id, recipient_id, status, consented_at, "
                "consent_source, confirmed_at, created_at) "
                f"SELECT %s, r.id, %s, %s, %s, %s, %s FROM {recipients} AS r "
                f"WHERE r.owner_id = %s AND r.id IN ({marks}) "
                "ON CONFLICT (list_id, recipient_id) DO UPDATE SET status = excluded.status, "
                f"confirmed_at = excluded.confirmed_at WHERE {table}.status = %s",
                [
                    recipient_list.pk,
                    confirmed,
                    now,
                    source,
                    now,
                    now,
                    recipient_list.owner_id,
                    *chunk,
                    pending,
                ],
            )


@transaction.atomic
def list_remove_recipients(
    *, user: User, recipient_list: RecipientList, recipient_ids: Iterable[int]
) -> int:
    """Take the given recipients out of the list (they stay recipients); returns how many."""
    ensure_can_write(user, recipient_list)
    removed, _by_model = Membership.objects.filter(
        list=recipient_list, recipient_id__in=list(recipient_ids)
    ).delete()
    cache.bump(owner_id=recipient_list.owner_id)
    log_event(recipient_list, "members_removed", user, count=removed)
    return removed


def list_name_taken(*, owner_id: int, name: str, exclude_pk: int | None = None) -> bool:
    """Whether the owner has a list called `name` already, compared as the constraint does."""
    clash = RecipientList.objects.filter(owner_id=owner_id).alias(key=Lower("name"))
    clash = clash.filter(key=Lower(Value(name)))
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    return clash.exists()


def _store(recipient_list: RecipientList, *, fields: list[str] | None = None) -> None:
    collect({}, recipient_list, exclude=["owner"])
    try:
        with transaction.atomic():
            if fields is None:
                recipient_list.save()
            else:
                recipient_list.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        if not list_name_taken(
            owner_id=recipient_list.owner_id, name=recipient_list.name, exclude_pk=recipient_list.pk
        ):
            raise
        raise ValidationError({"name": DUPLICATE_NAME}, code="duplicate") from None
