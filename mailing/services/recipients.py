"""Writes on recipients: add, edit, delete."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from core.refusals import ActionRefused
from core.roles import ensure_can_write
from users.models import User

from .. import cache, delivery, selectors
from ..models import Delivery, Recipient
from ..validators import validate_recipient_email
from .common import collect, log_deleted, log_event

DUPLICATE_EMAIL = _("You already have a recipient with this address.")


@transaction.atomic
def recipient_create(*, owner: User, email: str, full_name: str, comment: str = "") -> Recipient:
    """Add a recipient to `owner`'s addresses.

    Raises PermissionDenied when `owner` may not write (a manager, a blocked account), and a
    ValidationError naming the field for an invalid address or name, or an address `owner`
    has already (compared as the database compares: whatever its case)."""
    ensure_can_write(owner)
    recipient = Recipient(owner=owner, email=email.strip(), full_name=full_name, comment=comment)
    _store(recipient)
    cache.bump(owner_id=owner.pk)
    log_event(recipient, "created", owner)
    return recipient


@transaction.atomic
def recipient_update(
    *,
    user: User,
    recipient: Recipient,
    email: str | None = None,
    full_name: str | None = None,
    comment: str | None = None,
) -> Recipient:
    """Change what is given of `recipient` (None leaves a field as it is); refusals as for
    `recipient_create`."""
    ensure_can_write(user, recipient)
    given = {
        "email": None if email is None else email.strip(),
        "full_name": full_name,
        "comment": comment,
    }
    fields = [name for name, value in given.items() if value is not None]
    for name in fields:
        setattr(recipient, name, given[name])
    _store(recipient, fields=fields)
    cache.bump(owner_id=recipient.owner_id)
    log_event(recipient, "updated", user)
    return recipient


def _store(recipient: Recipient, *, fields: list[str] | None = None) -> None:
    """Check the row and write it (only `fields` of a stored one). The database decides
    whether the address is taken: its unique constraint is the one comparison that cannot
    race, and an address another request saved a moment ago is refused like any other."""
    # The address by the engine's rule (IDNA domains; SMTPUTF8 only when the relay takes it),
    # not the model field's ASCII-only one.
    errors: dict[str, list[str]] = {}
    try:
        validate_recipient_email(recipient.email)
        if len(recipient.email) > 254:
            raise ValidationError(gettext("Enter an address of at most 254 characters."))
    except ValidationError as error:
        errors["email"] = list(error.messages)
    collect(errors, recipient, exclude=["owner", "email"])
    try:
        # A savepoint: the transaction stays usable after the database refuses the row.
        with transaction.atomic():
            if fields is None:
                recipient.save()
            else:
                recipient.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        if not selectors.recipient_email_taken(
            owner=recipient.owner, email=recipient.email, exclude_pk=recipient.pk
        ):
            raise
        raise ValidationError({"email": DUPLICATE_EMAIL}, code="duplicate") from None


@transaction.atomic
def recipient_delete(*, user: User, recipient: Recipient) -> None:
    """Delete a recipient; what is queued for them is recorded as not sent. Refused while a
    message to them is on the wire."""
    ensure_can_write(user, recipient)
    if Delivery.objects.filter(recipient=recipient, state=Delivery.State.CLAIMED).exists():
        raise ActionRefused(
            gettext("A message to this recipient is being sent right now; try again shortly.")
        )
    # Queued deliveries to them are recorded as not sent rather than vanishing silently.
    delivery.cancel_deliveries_to(
        recipient_id=recipient.pk, reason=gettext_noop("the recipient was deleted")
    )
    owner_id, pk = recipient.owner_id, recipient.pk
    recipient.delete()
    cache.bump(owner_id=owner_id)
    log_deleted(Recipient, pk, user)
