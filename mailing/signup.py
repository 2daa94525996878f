"""The link in a sign-up confirmation mail: which membership, for which request, until when.

The token is signed with SECRET_KEY (`django.core.signing`, its own salt) and carries the
membership's id and the time of the sign-up it answers. Confirming checks both against the
stored row, so the link works once (a confirmed membership is no longer pending) and only the
newest request's link works (signing up again moves the time). It expires after
MAILING_SIGNUP_CONFIRM_DAYS.
"""

from datetime import datetime

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "mailing.signup.confirm"


class BadToken(Exception):
    """Not a token of this site, tampered with, or expired."""


def make_token(*, membership_id: int, consented_at: datetime) -> str:
    return signing.dumps([membership_id, consented_at.isoformat()], salt=SALT, compress=True)


def read_token(token: str) -> tuple[int, str]:
    """(membership id, sign-up time as stored in the token); BadToken otherwise."""
    max_age = settings.MAILING_SIGNUP_CONFIRM_DAYS * 24 * 3600
    try:
        membership_id, consented_at = signing.loads(token, salt=SALT, max_age=max_age)
    except (signing.BadSignature, ValueError, TypeError) as error:
        raise BadToken(str(error)) from error
    if not isinstance(membership_id, int) or not isinstance(consented_at, str):
        raise BadToken("unexpected payload")
    return membership_id, consented_at


def confirm_url(*, membership_id: int, consented_at: datetime) -> str:
    """The absolute confirmation link, on SITE_URL."""
    token = make_token(membership_id=membership_id, consented_at=consented_at)
    path = reverse("signup:confirm", args=[token])
    return f"{settings.SITE_URL.rstrip('/')}{path}"
