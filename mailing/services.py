"""Writes on campaign data: saving and deleting what users own, and the sending actions.

Every function checks the permission rule itself (`ensure_can_write`), keeps the per-owner
caches honest (`cache.bump`) and leaves a structured log line. Business rules that refuse an
action raise `ActionRefused` with a message meant for the user.
"""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Exists, Model, OuterRef, Q
from django.utils import timezone

from . import cache, delivery, schedule, selectors
from .forms import DUPLICATE_EMAIL, MailingForm, OwnedModelForm
from .models import Delivery, Mailing, Message, Recipient, Run
from .permissions import ensure_can_manage, ensure_can_write

logger = logging.getLogger(__name__)


class ActionRefused(Exception):
    """The action is not possible in the object's current state; the text says why."""


def _event(obj: Model, action: str, user, **fields) -> None:
    logger.info(
        f"{obj._meta.model_name}.{action}",
        extra={"object_id": obj.pk, "user_id": user.pk, **fields},
    )


def _in_flight(mailings) -> bool:
    return Run.objects.filter(mailing__in=mailings, finished_at__isnull=True).exists()


# --- Recipients and messages -------------------------------------------------------------------


@transaction.atomic
def save_owned(*, user, form: OwnedModelForm) -> Model:
    """Create or update a recipient or a message from a valid form.

    A recipient address that another request saved after this form was validated is refused
    like the form refuses it: an error on the form's email field, and ActionRefused.
    """
    instance = form.instance
    creating = instance.pk is None
    ensure_can_write(user, None if creating else instance)
    if isinstance(instance, Message) and not creating and _in_flight(instance.mailings.all()):
        raise ActionRefused("This message is being sent right now; edit it when sending is done.")
    if creating:
        instance.owner = user
    try:
        # A savepoint: the transaction stays usable after the database refuses the row.
        with transaction.atomic():
            obj = form.save()
    except IntegrityError:
        if not isinstance(instance, Recipient) or not selectors.recipient_email_taken(
            owner=instance.owner, email=instance.email, exclude_pk=instance.pk
        ):
            raise
        form.add_error("email", DUPLICATE_EMAIL)
        raise ActionRefused(DUPLICATE_EMAIL) from None
    cache.bump(owner_id=obj.owner_id)
    _event(obj, "created" if creating else "updated", user)
    return obj


@transaction.atomic
def delete_recipient(*, user, recipient: Recipient) -> None:
    ensure_can_write(user, recipient)
    if Delivery.objects.filter(recipient=recipient, state=Delivery.State.CLAIMED).exists():
        raise ActionRefused(
            "A message to this recipient is being sent right now; try again shortly."
        )
    # Queued deliveries to them are recorded as not sent rather than vanishing silently.
    delivery.cancel_deliveries_to(recipient_id=recipient.pk, reason="the recipient was deleted")
    owner_id, pk = recipient.owner_id, recipient.pk
    recipient.delete()
    cache.bump(owner_id=owner_id)
    logger.info("recipient.deleted", extra={"object_id": pk, "user_id": user.pk})


@transaction.atomic
def delete_message(*, user, message: Message) -> None:
    """Delete a message no mailing uses; one in use is refused with the mailings' numbers
    (the database would refuse too: Mailing.message is RESTRICT)."""
    ensure_can_write(user, message)
    in_use = list(message.mailings.values_list("pk", flat=True)[:5])
    if in_use:
        names = ", ".join(f"#{pk}" for pk in in_use)
        raise ActionRefused(f"This message is used by mailing {names}; delete those first.")
    owner_id, pk = message.owner_id, message.pk
    message.delete()
    cache.bump(owner_id=owner_id)
    logger.info("message.deleted", extra={"object_id": pk, "user_id": user.pk})


# --- Mailings ----------------------------------------------------------------------------------


@transaction.atomic
def save_mailing(*, user, form: MailingForm) -> Mailing:
    """Create or update a mailing from a valid form.

    An update locks the row and writes only the form's fields (and the schedule, when it
    changes): the form's copy was read when the page loaded, and writing all of it back
    would undo a manager's disable, or the run the scheduler started, since. The schedule
    restarts from `first_send_at` only when that or the periodicity changed, so a time set
    with Schedule survives an edit of anything else."""
    mailing = form.instance
    creating = mailing.pk is None
    ensure_can_write(user, None if creating else mailing)
    current = None
    if creating:
        mailing.owner = user
    else:
        current = Mailing.objects.select_for_update().filter(pk=mailing.pk).first()
        if current is None:
            raise ActionRefused("This mailing was deleted meanwhile.")
        # Under the lock: a run the scheduler opened since the page loaded counts too.
        if _in_flight([current]):
            raise ActionRefused("This mailing is being sent right now; stop it or wait, then edit.")
    mailing = form.save(commit=False)
    planned = _replan(mailing, current=current)
    if creating:
        mailing.save()
    else:
        columns = [f.name for f in Mailing._meta.concrete_fields if f.name in form.fields]
        mailing.save(update_fields=[*columns, *planned, "updated_at"])
    form.save_m2m()
    if form.cleaned_data.get("all_recipients"):
        _set_all_recipients(mailing)
    cache.bump(owner_id=mailing.owner_id)
    _event(
        mailing,
        "created" if creating else "updated",
        user,
        periodicity=mailing.periodicity,
        first_send_at=mailing.first_send_at.isoformat(),
    )
    return mailing


def _replan(mailing: Mailing, *, current: Mailing | None) -> list[str]:
    """Anchor the schedule of a new mailing, or of one whose plan changed, at its first send;
    returns the fields set. `current` is the stored row (None for a new mailing)."""
    if current is not None:
        if current.status == Mailing.Status.FINISHED:
            return []  # it sends again only when scheduled
        # The form edits times to the minute: a stored time with seconds is not a change.
        if current.periodicity == mailing.periodicity and _same_minute(
            current.first_send_at, mailing.first_send_at
        ):
            mailing.first_send_at = current.first_send_at
            return []
    mailing.schedule_anchor = mailing.first_send_at
    mailing.next_send_at = _first_due(
        mailing, has_run=current is not None and current.runs.exists()
    )
    return ["schedule_anchor", "next_send_at"]


def _same_minute(a: datetime, b: datetime) -> bool:
    return a.replace(second=0, microsecond=0) == b.replace(second=0, microsecond=0)


def _first_due(mailing: Mailing, *, has_run: bool) -> datetime | None:
    # A new plan starts at first_send_at, even one in the past (send as soon as possible).
    # Re-planning a mailing that already ran continues with its next occurrence after now:
    # an edit never triggers an immediate catch-up send.
    if not has_run:
        return mailing.first_send_at
    following = schedule.next_occurrence(
        anchor=mailing.first_send_at, periodicity=mailing.periodicity, after=timezone.now()
    )
    return following if following and following < mailing.end_at else None


def _set_all_recipients(mailing: Mailing) -> None:
    through = Mailing.recipients.through
    through.objects.filter(mailing=mailing).delete()
    ids = Recipient.objects.filter(owner_id=mailing.owner_id).values_list("pk", flat=True)
    through.objects.bulk_create(
        (through(mailing_id=mailing.pk, recipient_id=pk) for pk in ids.iterator(chunk_size=2000)),
        batch_size=2000,
    )


@transaction.atomic
def delete_mailing(*, user, mailing: Mailing) -> None:
    ensure_can_write(user, mailing)
    if _in_flight([mailing]):
        raise ActionRefused("This mailing is being sent right now; stop it first.")
    owner_id, pk = mailing.owner_id, mailing.pk
    mailing.delete()
    cache.bump(owner_id=owner_id)
    logger.info("mailing.deleted", extra={"object_id": pk, "user_id": user.pk})


def send_now(*, user, mailing: Mailing) -> Run:
    """Queue a run for right now and return at once; senders deliver it in the background."""
    ensure_can_write(user, mailing)
    try:
        run = delivery.start_run(mailing=mailing)
    except delivery.CannotSend as refusal:
        raise ActionRefused(str(refusal)) from refusal
    _event(mailing, "send_now", user, run_id=run.pk)
    return run


@transaction.atomic
def schedule_mailing(*, user, mailing: Mailing, send_at: datetime) -> Mailing:
    """Set the next send time; later occurrences of a periodic mailing follow from it."""
    ensure_can_write(user, mailing)
    locked = delivery.lock_mailing(mailing_id=mailing.pk)
    if locked is None:
        raise ActionRefused("This mailing was deleted meanwhile.")
    try:
        delivery.ensure_sendable(mailing=locked, now=timezone.now(), starting=False)
    except delivery.CannotSend as refusal:
        raise ActionRefused(str(refusal)) from refusal
    if send_at >= locked.end_at:  # the end may have moved since the form was checked
        raise ActionRefused("Choose a time before the mailing's end.")
    locked.schedule_anchor = send_at
    locked.next_send_at = send_at
    if locked.status == Mailing.Status.FINISHED:
        has_run = Run.objects.filter(mailing=locked).exists()
        locked.status = Mailing.Status.LAUNCHED if has_run else Mailing.Status.CREATED
    locked.save(update_fields=["schedule_anchor", "next_send_at", "status", "updated_at"])
    cache.bump(owner_id=locked.owner_id)
    _event(locked, "scheduled", user, send_at=send_at.isoformat())
    return locked


def _stop(mailing: Mailing, *, reason: str) -> int:
    # Under the row lock: a run the scheduler or Send now is opening right now is either
    # committed first (and cancelled here) or waits and then finds the mailing finished.
    Mailing.objects.select_for_update().filter(pk=mailing.pk).values_list("pk").first()
    cancelled = delivery.cancel_runs(runs=Run.objects.filter(mailing=mailing), reason=reason)
    Mailing.objects.filter(pk=mailing.pk).update(
        status=Mailing.Status.FINISHED, next_send_at=None, updated_at=timezone.now()
    )
    mailing.refresh_from_db(fields=["status", "next_send_at", "updated_at"])
    cache.bump(owner_id=mailing.owner_id)
    return cancelled


@transaction.atomic
def stop_mailing(*, user, mailing: Mailing) -> int:
    """Cancel what is queued (each recipient gets a failed attempt saying so) and finish."""
    ensure_can_write(user, mailing)
    current = Mailing.objects.select_for_update().get(pk=mailing.pk)
    if current.status == Mailing.Status.FINISHED and not _in_flight([current]):
        raise ActionRefused("This mailing has already finished.")
    cancelled = _stop(mailing, reason="stopped by the owner")
    _event(mailing, "stopped", user, cancelled=cancelled)
    return cancelled


@transaction.atomic
def disable_mailing(*, manager, mailing: Mailing) -> int:
    """A manager switches a mailing off for good; its queue is cancelled like a stop."""
    ensure_can_manage(manager, "disable")
    if mailing.is_disabled:
        raise ActionRefused("This mailing is already disabled.")
    Mailing.objects.filter(pk=mailing.pk).update(
        is_disabled=True, disabled_at=timezone.now(), disabled_by=manager
    )
    mailing.refresh_from_db(fields=["is_disabled", "disabled_at", "disabled_by"])
    cancelled = _stop(mailing, reason="disabled by a manager")
    _event(mailing, "disabled", manager, cancelled=cancelled, owner_id=mailing.owner_id)
    return cancelled


def stop_mailings_of_blocked_owner(*, owner) -> int:
    """Called when an account is blocked (inside that transaction): cancel every open run of
    theirs and finish their launched mailings, in the same few queries however many there
    are. Mailings that never started stay `created`: the scheduler skips blocked owners, so
    they wait. Returns the number of mailings stopped."""
    now = timezone.now()
    open_run = Run.objects.filter(mailing=OuterRef("pk"), finished_at__isnull=True)
    stopping = Mailing.objects.filter(owner=owner).filter(
        Q(status=Mailing.Status.LAUNCHED) | Exists(open_run)
    )
    stopped = stopping.count()
    # Mailings before runs, the order a stop or a manager's disable locks them in.
    Mailing.objects.filter(owner=owner, status=Mailing.Status.LAUNCHED).update(
        status=Mailing.Status.FINISHED, next_send_at=None, updated_at=now
    )
    delivery.cancel_runs(
        runs=Run.objects.filter(mailing__owner=owner),
        reason="the owner's account was blocked",
        now=now,
    )
    cache.bump(owner_id=owner.pk)
    return stopped
