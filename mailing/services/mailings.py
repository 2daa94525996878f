"""Writes on mailings: create, edit, delete. (Sending, stopping and scheduling are actions,
in `actions`.)"""

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext

from core.refusals import ActionRefused
from core.roles import ensure_can_write
from users.models import User

from .. import cache, schedule
from ..models import Mailing, Membership, Message, Recipient, RecipientList
from .common import collect, in_flight, log_deleted, log_event

Errors = dict[str, list[str]]


@transaction.atomic
def mailing_create(
    *,
    owner: User,
    message: Message,
    name: str = "",
    recipients: Iterable[Recipient] = (),
    lists: Iterable[RecipientList] = (),
    all_recipients: bool = False,
    first_send_at: datetime,
    end_at: datetime,
    periodicity: str = Mailing.Periodicity.ONCE,
    start: bool = True,
    reply_to: str = "",
    content: str = Mailing.Content.MESSAGE,
) -> Mailing:
    """Plan `message` (with `content` NEW_POSTS: a digest of new blog posts after it, see
    `mailing.digests`) for `recipients` (or, with `all_recipients`, every recipient `owner`
    has now) and the confirmed members of `lists` (as they are when each run starts), from
    `first_send_at`, once or every day, week or month until `end_at`. An empty `name` names
    the mailing after the message's subject.

    The mailing is stored with the plan every new mailing gets (`mailing.schedule`): the
    scheduler starts it at `first_send_at`, at once when that is past. With `start=False` it
    is a draft: stored with no next send, so nothing is sent until its owner schedules it
    or presses Send now. Raises
    PermissionDenied when `owner` may not write, and a ValidationError naming the field for
    a message, recipient or list that is not theirs, neither a recipient nor a list, an end that is not after the
    first send or already past, or an unknown periodicity."""
    ensure_can_write(owner)
    chosen = list(recipients)
    chosen_lists = list(lists)
    errors: Errors = {}
    _check_ownership(
        errors, owner_id=owner.pk, message=message, recipients=chosen, lists=chosen_lists
    )
    _check_recipients(
        errors, recipients=bool(chosen), lists=bool(chosen_lists), all_recipients=all_recipients
    )
    _check_times(errors, first_send_at=first_send_at, end_at=end_at, end_changed=True)
    mailing = Mailing(
        owner=owner,
        message=message,
        name=_name_or_subject(name, message),
        first_send_at=first_send_at,
        end_at=end_at,
        periodicity=periodicity,
        reply_to=reply_to.strip(),
        content=content,
    )
    # The plan is not set here: storing the mailing derives it (mailing.signals); a draft
    # gets an anchor and no next send, which that hook leaves as they are.
    if not start:
        mailing.schedule_anchor, mailing.next_send_at = first_send_at, None
    collect(errors, mailing, exclude=["owner", "message", "schedule_anchor"])
    mailing.save()
    _set_recipients(mailing, chosen, all_recipients=all_recipients)
    mailing.lists.set(chosen_lists)
    cache.bump(owner_id=owner.pk)
    _log(mailing, "created", owner)
    return mailing


@transaction.atomic
def mailing_update(
    *,
    user: User,
    mailing: Mailing,
    message: Message | None = None,
    name: str | None = None,
    recipients: Iterable[Recipient] | None = None,
    lists: Iterable[RecipientList] | None = None,
    all_recipients: bool = False,
    first_send_at: datetime | None = None,
    end_at: datetime | None = None,
    periodicity: str | None = None,
    reply_to: str | None = None,
    content: str | None = None,
) -> Mailing:
    """Change what is given of `mailing` (None leaves a field as it is; `all_recipients`
    sends to every recipient the owner has now) and return the stored mailing.

    The row is locked and only what changes is written (with the plan, when it changes): the
    caller's copy may be old, and writing all of it back would undo a manager's disable, or
    the run the scheduler started, since. Times are compared to the minute (the dashboard
    edits them so). The plan starts again from the first send only when that or the
    periodicity changes, so a time set with Schedule survives an edit of anything else, and a
    finished mailing stays finished (it sends again only when scheduled).

    Refusals as for `mailing_create`, and ActionRefused while the mailing is being sent or
    once it is deleted."""
    ensure_can_write(user, mailing)
    current = Mailing.objects.select_for_update().filter(pk=mailing.pk).first()
    if current is None:
        raise ActionRefused(gettext("This mailing was deleted meanwhile."))
    # Under the lock: a run the scheduler opened since the caller read the mailing counts too.
    if in_flight([current]):
        raise ActionRefused(
            gettext("This mailing is being sent right now; stop it or wait, then edit.")
        )
    chosen = None if recipients is None else list(recipients)
    chosen_lists = None if lists is None else list(lists)
    changed: list[str] = []
    if message is not None and message.pk != current.message_id:
        current.message = message
        changed.append("message")
    if name is not None:
        new_name = _name_or_subject(name, message or current.message)
        if new_name != current.name:
            current.name = new_name
            changed.append("name")
    if content is not None and content != current.content:
        current.content = content
        changed.append("content")
    if periodicity is not None and periodicity != current.periodicity:
        current.periodicity = periodicity
        changed.append("periodicity")
    if first_send_at is not None and not schedule.same_minute(first_send_at, current.first_send_at):
        current.first_send_at = first_send_at
        changed.append("first_send_at")
    if end_at is not None and not schedule.same_minute(end_at, current.end_at):
        current.end_at = end_at
        changed.append("end_at")
    if reply_to is not None and reply_to.strip() != current.reply_to:
        current.reply_to = reply_to.strip()
        changed.append("reply_to")

    errors: Errors = {}
    _check_ownership(
        errors,
        owner_id=current.owner_id,
        message=message,
        recipients=chosen or [],
        lists=chosen_lists or [],
    )
    if chosen is not None or chosen_lists is not None:
        # What the mailing will have: what is given, and what it has of the rest.
        _check_recipients(
            errors,
            recipients=bool(chosen) if chosen is not None else current.recipients.exists(),
            lists=bool(chosen_lists) if chosen_lists is not None else current.lists.exists(),
            all_recipients=all_recipients,
        )
    _check_times(
        errors,
        first_send_at=current.first_send_at,
        end_at=current.end_at,
        end_changed="end_at" in changed,
    )
    collect(errors, current, exclude=["owner", "message", "disabled_by"])

    planned: list[str] = []
    replan = "first_send_at" in changed or "periodicity" in changed
    if replan and current.status != Mailing.Status.FINISHED:
        new = schedule.plan(
            first_send_at=current.first_send_at,
            periodicity=current.periodicity,
            end_at=current.end_at,
            after=timezone.now() if current.runs.exists() else None,
        )
        current.schedule_anchor, current.next_send_at = new.anchor, new.next_send_at
        planned = ["schedule_anchor", "next_send_at"]
    current.save(update_fields=[*changed, *planned, "updated_at"])
    if all_recipients or chosen is not None:
        _set_recipients(current, chosen or [], all_recipients=all_recipients)
    if chosen_lists is not None:
        current.lists.set(chosen_lists)
    cache.bump(owner_id=current.owner_id)
    _log(current, "updated", user)
    return current


@transaction.atomic
def mailing_delete(*, user: User, mailing: Mailing) -> None:
    """Delete a mailing and its reports; refused while it is being sent (stop it first)."""
    ensure_can_write(user, mailing)
    if in_flight([mailing]):
        raise ActionRefused(gettext("This mailing is being sent right now; stop it first."))
    owner_id, pk = mailing.owner_id, mailing.pk
    mailing.delete()
    cache.bump(owner_id=owner_id)
    log_deleted(Mailing, pk, user)


def _name_or_subject(name: str, message: Message) -> str:
    """The name as given (trimmed), or, when it is empty, the message's subject."""
    max_length = Mailing._meta.get_field("name").max_length or 200
    return name.strip() or message.subject.strip()[:max_length]


def _log(mailing: Mailing, action: str, user: User) -> None:
    log_event(
        mailing,
        action,
        user,
        periodicity=mailing.periodicity,
        first_send_at=mailing.first_send_at.isoformat(),
    )


# --- Checks: each adds its errors under the field they are about --------------------------------


def _check_ownership(
    errors: Errors,
    *,
    owner_id: int,
    message: Message | None,
    recipients: list[Recipient],
    lists: list[RecipientList],
) -> None:
    if message is not None and message.owner_id != owner_id:
        errors.setdefault("message", []).append(gettext("Choose one of your own messages."))
    if any(recipient.owner_id != owner_id for recipient in recipients):
        errors.setdefault("recipients", []).append(gettext("Choose your own recipients only."))
    if any(recipient_list.owner_id != owner_id for recipient_list in lists):
        errors.setdefault("lists", []).append(gettext("Choose your own lists only."))


def _check_recipients(
    errors: Errors, *, recipients: bool, lists: bool, all_recipients: bool
) -> None:
    """A mailing needs someone to send to: recipients, lists, or all the owner's recipients."""
    if not recipients and not lists and not all_recipients:
        errors.setdefault("recipients", []).append(
            gettext("Choose at least one recipient or list, or send to all your recipients.")
        )


def _check_times(
    errors: Errors, *, first_send_at: datetime, end_at: datetime, end_changed: bool
) -> None:
    if end_at <= first_send_at:
        errors.setdefault("end_at", []).append(gettext("The end must come after the first send."))
    elif end_changed and end_at <= timezone.now():
        errors.setdefault("end_at", []).append(gettext("The end is already in the past."))


def _set_recipients(mailing: Mailing, recipients: list[Recipient], *, all_recipients: bool) -> None:
    if not all_recipients:
        mailing.recipients.set(recipients)
        return
    # Every recipient the owner has, written in bulk: an owner may have tens of thousands.
    through = Mailing.recipients.through
    through.objects.filter(mailing=mailing).delete()
    # Not the addresses still waiting to confirm a public sign-up (and confirmed on no list):
    # they have not agreed to be mailed yet.
    memberships = Membership.objects.filter(recipient=OuterRef("pk"))
    unconfirmed = Exists(memberships.filter(status=Membership.Status.PENDING)) & ~Exists(
        memberships.filter(status=Membership.Status.CONFIRMED)
    )
    ids = (
        Recipient.objects.filter(owner_id=mailing.owner_id)
        .exclude(unconfirmed)
        .values_list("pk", flat=True)
    )
    through.objects.bulk_create(
        (through(mailing_id=mailing.pk, recipient_id=pk) for pk in ids.iterator(chunk_size=2000)),
        batch_size=2000,
    )
