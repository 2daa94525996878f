"""The token in a campaign mail's unsubscribe link: which owner's list, which address.

RFC 8058 one-click unsubscribe needs a link that works without signing in, so the link itself
must say who is leaving whose mailings, and nobody may forge or alter it. It must also reveal
nothing to whoever reads it (a forwarded mail, a proxy's log): no account id, no address in
clear. Django's `signing` signs but leaves its payload readable, so the token is the payload
encrypted with AES-SIV (authenticated: a changed byte is refused; deterministic: the same
owner and address always give the same token, so a recipient's links stay stable and a mail
sent a year ago still works). The key is derived from SECRET_KEY; tokens made under a key in
SECRET_KEY_FALLBACKS are still read, so rotating the secret does not break old mails.

The token names the address, not the recipient row: a person who unsubscribes after the owner
deleted them is still suppressed for that owner.

`unsubscribe_url` runs once per message on the sender's event loop: no query, a few
microseconds.
"""

import base64
import binascii
import hashlib
import hmac
from functools import cache
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from django.conf import settings

# Where the site answers the links (the URLconf mounts the view at this path).
PATH_PREFIX = "/u/"
_VERSION = b"\x01"
_CONTEXT = b"mailing.unsubscribe"


class Subscriber(NamedTuple):
    """Whom a token names: an owner's id and the address that receives their mailings."""

    owner_id: int
    email: str


class BadToken(ValueError):
    """The token was not made by this site (altered, truncated, foreign or garbage)."""


@cache
def _cipher(secret: str) -> AESSIV:
    # 64 bytes: AES-256 in SIV mode takes two 256-bit keys.
    key = hmac.new(secret.encode(), _CONTEXT, hashlib.sha512).digest()
    return AESSIV(key)


def _ciphers() -> list[AESSIV]:
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [_cipher(secret) for secret in secrets]


def make_token(*, owner_id: int, email: str) -> str:
    """The opaque, URL-safe token that names `email` on `owner_id`'s mailings."""
    payload = _VERSION + owner_id.to_bytes(8, "big") + email.encode("utf-8")
    sealed = _cipher(settings.SECRET_KEY).encrypt(payload, [_CONTEXT])
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")


def read_token(token: str) -> Subscriber:
    """Whom `token` names; raises BadToken for anything this site did not make."""
    try:
        sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise BadToken("not a token") from None
    for cipher in _ciphers():
        try:
            payload = cipher.decrypt(sealed, [_CONTEXT])
        except (InvalidTag, ValueError):
            continue
        if payload[:1] != _VERSION or len(payload) < 10:
            break
        try:
            email = payload[9:].decode("utf-8")
        except UnicodeDecodeError:
            break
        return Subscriber(int.from_bytes(payload[1:9], "big"), email)
    raise BadToken("not a token of this site")


def unsubscribe_url(*, owner_id: int, email: str) -> str:
    """The absolute one-click unsubscribe link for `email` on `owner_id`'s mailings."""
    return (
        f"{settings.SITE_URL.rstrip('/')}{PATH_PREFIX}{make_token(owner_id=owner_id, email=email)}/"
    )
