"""Public sign-up to a list, with double opt-in: a visitor asks, a mail confirms.

`signup_request` keeps (or adds) the address among the list owner's recipients with a
*pending* membership, records the consent (time, source page, IP) and mails a signed link;
`signup_confirm` turns the membership *confirmed* when that link is followed. Only confirmed
members are mailed (the run-time resolution of a mailing's lists reads confirmed ones only).

Nothing here tells the visitor who is on a list: whatever happens (a new address, one that is
pending or confirmed already, a suppressed one, too many mails to one address), the caller
answers the same "check your inbox". What did happen is returned, for logs and tests.
"""

import hashlib
import logging
from datetime import datetime
from typing import Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext

from .. import cache, ratelimit, signup
from ..models import Membership, Recipient, RecipientList, Suppression
from ..validators import validate_name

logger = logging.getLogger("mailing.signup")

Requested = Literal["mailed", "member_already", "suppressed", "too_many_mails"]
Confirmed = Literal["confirmed", "used"]
SOURCE_MAX = 500


def signup_request(
    *,
    recipient_list: RecipientList,
    email: str,
    full_name: str = "",
    source: str = "",
    ip: str | None = None,
    now: datetime | None = None,
) -> Requested:
    """A visitor asks to join `recipient_list` (a public one) with `email`.

    Raises a ValidationError naming the field for an address that is not one, or a name
    that is not a single line; nothing is stored then. Otherwise returns what happened:
    `mailed` (a confirmation link is on its way, once this commits), `member_already`,
    `suppressed` (the owner must not mail the address: no mail) or `too_many_mails` (the
    address had its MAILING_SIGNUP_MAILS_PER_ADDRESS_PER_DAY for this list)."""
    email = email.strip()
    full_name = " ".join(full_name.split())
    errors: dict[str, list[str]] = {}
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = [gettext("Enter a valid email address.")]
    try:
        validate_name(full_name)
    except ValidationError as error:
        errors["full_name"] = list(error.messages)
    if len(email) > 254:
        errors["email"] = [gettext("Enter a valid email address.")]
    if errors:
        raise ValidationError(errors)
    now = now or timezone.now()
    owner_id = recipient_list.owner_id
    with transaction.atomic():
        if _suppressed(owner_id=owner_id, email=email):
            outcome: Requested = "suppressed"
        else:
            recipient = _recipient(owner_id=owner_id, email=email, full_name=full_name)
            outcome = _pend(recipient_list, recipient, source=source, ip=ip, now=now)
    logger.info(
        "signup.requested",
        extra={"list_id": recipient_list.pk, "outcome": outcome, "ip": ip},
    )
    return outcome


def signup_confirm(*, token: str, now: datetime | None = None) -> tuple[Membership, Confirmed]:
    """Confirm the membership the link of a confirmation mail names; returns it and whether
    this confirmed it (`confirmed`) or it was confirmed before (`used`). Raises
    `signup.BadToken` for a link that is forged, expired, or replaced by a newer request."""
    membership_id, consented_at = signup.read_token(token)
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .select_related("list", "recipient")
            .filter(pk=membership_id)
            .first()
        )
        if membership is None:
            raise signup.BadToken("no such membership")
        if membership.status == Membership.Status.CONFIRMED:
            return membership, "used"
        if membership.consented_at is None or membership.consented_at.isoformat() != consented_at:
            raise signup.BadToken("replaced by a newer sign-up")
        membership.status = Membership.Status.CONFIRMED
        membership.confirmed_at = now or timezone.now()
        membership.save(update_fields=["status", "confirmed_at"])
        cache.bump(owner_id=membership.list.owner_id)
    logger.info("signup.confirmed", extra={"list_id": membership.list_id})
    return membership, "confirmed"


def ip_may_sign_up(ip: str | None) -> bool:
    """Whether another sign-up from `ip` fits in MAILING_SIGNUP_PER_IP_PER_HOUR."""
    return ratelimit.hit(
        f"signup:ip:{ip or 'unknown'}", limit=settings.MAILING_SIGNUP_PER_IP_PER_HOUR, seconds=3600
    )


# --- Steps ----------------------------------------------------------------------------------------


def _suppressed(*, owner_id: int, email: str) -> bool:
    return (
        Suppression.objects.filter(owner_id=owner_id)
        .alias(key=Lower("email"))
        .filter(key=Lower(Value(email)))
        .exists()
    )


def _recipient(*, owner_id: int, email: str, full_name: str) -> Recipient:
    """The owner's recipient with this address (whatever its case), or a new one. A visitor
    never changes a recipient the owner has: its name stays theirs."""
    same = Recipient.objects.filter(owner_id=owner_id).alias(key=Lower("email"))
    same = same.filter(key=Lower(Value(email)))
    found = same.first()
    if found is not None:
        return found
    name = full_name or email.split("@", 1)[0]
    max_length = Recipient._meta.get_field("full_name").max_length or 200
    try:
        with transaction.atomic():  # a savepoint: a sign-up at the same moment may win
            return Recipient.objects.create(
                owner_id=owner_id, email=email, full_name=name[:max_length]
            )
    except IntegrityError:
        return same.get()


def _pend(
    recipient_list: RecipientList,
    recipient: Recipient,
    *,
    source: str,
    ip: str | None,
    now: datetime,
) -> Requested:
    membership, created = Membership.objects.select_for_update().get_or_create(
        list=recipient_list,
        recipient=recipient,
        defaults={"status": Membership.Status.PENDING},
    )
    if not created and membership.status == Membership.Status.CONFIRMED:
        return "member_already"
    if not _address_may_get_mail(recipient_list, recipient.email):
        return "too_many_mails"
    # The newest request is the consent on record, and only its link confirms.
    membership.consented_at = now
    membership.consent_source = source[:SOURCE_MAX]
    membership.consent_ip = ip
    membership.save(update_fields=["consented_at", "consent_source", "consent_ip"])
    cache.bump(owner_id=recipient_list.owner_id)
    url = signup.confirm_url(membership_id=membership.pk, consented_at=now)
    language = translation.get_language()
    email, list_name = recipient.email, recipient_list.name
    transaction.on_commit(
        lambda: send_confirmation(email=email, list_name=list_name, url=url, language=language)
    )
    return "mailed"


def _address_may_get_mail(recipient_list: RecipientList, email: str) -> bool:
    digest = hashlib.sha256(email.lower().encode()).hexdigest()[:32]
    return ratelimit.hit(
        f"signup:mail:{recipient_list.pk}:{digest}",
        limit=settings.MAILING_SIGNUP_MAILS_PER_ADDRESS_PER_DAY,
        seconds=24 * 3600,
    )


def send_confirmation(*, email: str, list_name: str, url: str, language: str | None) -> None:
    """The confirmation mail, through the site's EMAIL_BACKEND, in the visitor's language. A
    mail server that refuses it is logged: the visitor's page does not change."""
    context = {"list_name": list_name, "url": url, "site_name": settings.SITE_NAME}
    with translation.override(language):
        subject = " ".join(render_to_string("mailing/email/signup_subject.txt", context).split())
        body = render_to_string("mailing/email/signup_body.txt", context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
    except Exception:
        logger.exception("signup.mail_failed")
