"""Writes on suppressed addresses: a person unsubscribes (no login: the link names them), an
owner lifts a bounce.

An unsubscribe is never lifted: the person said no. A bounce suppression may be lifted by its
owner (the mailbox exists again); re-adding or importing the address does not lift either.
"""

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from core.refusals import ActionRefused
from core.roles import ensure_can_write
from users.models import User

from .. import cache
from ..delivery.suppression import skip_pending_to
from ..models import Suppression
from ..unsubscribe import Subscriber
from .common import log_event


@transaction.atomic
def unsubscribe(*, subscriber: Subscriber, detail: str = "") -> Suppression | None:
    """Suppress `subscriber.email` for `subscriber.owner_id` (idempotent: a second click, a
    mail client's POST after the person's own, changes nothing). A bounce suppression of the
    address becomes an unsubscribe, which is never lifted. Pending deliveries to the address
    in the owner's open runs are skipped. None when the owner no longer exists."""
    owner = User.objects.filter(pk=subscriber.owner_id).first()
    if owner is None:
        return None
    email = subscriber.email.strip()
    suppression = (
        Suppression.objects.select_for_update().filter(owner=owner, email__iexact=email).first()
    )
    if suppression is None:
        try:
            with transaction.atomic():
                suppression = Suppression.objects.create(
                    owner=owner,
                    email=email,
                    reason=Suppression.Reason.UNSUBSCRIBED,
                    detail=detail[:500],
                )
        except IntegrityError:  # a simultaneous click: the other one made it
            return Suppression.objects.get(owner=owner, email__iexact=email)
    elif suppression.reason != Suppression.Reason.UNSUBSCRIBED:
        suppression.reason = Suppression.Reason.UNSUBSCRIBED
        suppression.detail = detail[:500]
        suppression.save(update_fields=["reason", "detail", "updated_at"])
    else:
        return suppression
    skip_pending_to(owner_id=owner.pk, email=email)
    cache.bump(owner_id=owner.pk)
    log_event(suppression, "unsubscribed", owner)
    return suppression


CANNOT_LIFT = _("This person unsubscribed: only they can decide to receive mail again.")


@transaction.atomic
def suppression_lift(*, user: User, suppression: Suppression) -> None:
    """Mail a bounced address again. Refuses (`ActionRefused`) an unsubscribe."""
    ensure_can_write(user, suppression)
    if suppression.reason != Suppression.Reason.BOUNCED:
        raise ActionRefused(str(CANNOT_LIFT))
    suppression.delete()
    cache.bump(owner_id=suppression.owner_id)
    log_event(suppression, "lifted", user)
