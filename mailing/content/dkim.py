"""DKIM signatures (RFC 6376): relaxed/relaxed canonicalization, rsa-sha256, on `cryptography`.

dkimpy signs a message in about 14 ms (it parses and canonicalizes everything in Python, and
signs with pure-Python RSA); this module signs with OpenSSL through `cryptography` and hashes
the body a run's recipients share once per run, so a signature costs about what one RSA-2048
private-key operation does (well under a millisecond here; README has the figures). The tests
verify its signatures with dkimpy.

`configured_signer()` is the site's signer, or None when DKIM_DOMAIN, DKIM_SELECTOR and
DKIM_PRIVATE_KEY are not all set (most relays sign themselves). A message class uses it
through `identity.Envelope`, which signs every message it assembles.
"""

import base64
import hashlib
import re
import time
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# The headers a signature covers, when the message has them (lower case, in this order).
SIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
)

_WSP = re.compile(rb"[ \t]+")
_WSP_BEFORE_CRLF = re.compile(rb" \r\n")
_FOLD = re.compile(rb"\r\n(?=[ \t])")


def relaxed_lines(body: bytes) -> bytes:
    """The "relaxed" body canonicalization of complete CRLF-ended lines, without the removal
    of empty lines at the end (`BodyHash.digest` does that, on the body's last part)."""
    return _WSP_BEFORE_CRLF.sub(b"\r\n", _WSP.sub(b" ", body))


_FIELD_START = re.compile(rb"(?<=\r\n)(?![ \t])")


def split_fields(head: bytes) -> list[bytes]:
    """A block of header lines (CRLF-ended) as whole fields, each with its folded lines."""
    return [field for field in _FIELD_START.split(head) if field]


def relaxed_header(field: bytes) -> bytes:
    """One header field (name, colon, value, folded or not, CRLF-ended) in "relaxed" form."""
    name, _, value = field.partition(b":")
    value = _WSP.sub(b" ", _FOLD.sub(b"", value).rstrip(b"\r\n")).strip(b" ")
    return name.strip().lower() + b":" + value + b"\r\n"


class BodyHash:
    """The body hash of a message whose body is a shared part (hashed once) and a last part
    per recipient. Both are message bytes before dot-stuffing, CRLF line ends."""

    def __init__(self, shared: bytes) -> None:
        self._shared = relaxed_lines(shared)
        self._state = hashlib.sha256(self._shared)

    def digest(self, last: bytes = b"") -> bytes:
        tail = relaxed_lines(last).rstrip(b"\r\n")
        if tail:
            state = self._state.copy()
            state.update(tail + b"\r\n")
            return state.digest()
        body = self._shared.rstrip(b"\r\n")  # the empty lines at its end are ignored
        return hashlib.sha256(body + b"\r\n" if body else b"").digest()


class Signer:
    """Signs with one domain, selector and RSA key."""

    def __init__(self, *, domain: str, selector: str, private_key: bytes) -> None:
        key = serialization.load_pem_private_key(private_key, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ImproperlyConfigured("DKIM_PRIVATE_KEY must be an RSA private key (PEM).")
        self._key = key
        self.domain = domain.encode("idna").decode("ascii")
        self.selector = selector

    def signature(self, fields: Iterable[bytes], body_hash: bytes) -> bytes:
        """The DKIM-Signature header field (folded, CRLF-ended) over the header `fields` the
        message carries (each a whole field, CRLF-ended) and the body's `body_hash`."""
        by_name: dict[bytes, bytes] = {}
        for field in fields:
            # The last instance of a header is the one signed first (RFC 6376 §5.4.2); the
            # headers signed here occur once.
            by_name[field.partition(b":")[0].strip().lower()] = field
        names = [name for name in SIGNED_HEADERS if name.encode() in by_name]
        head = (
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={self.domain};\r\n"
            f"\ts={self.selector}; t={int(time.time())};\r\n"
            f"\th={':'.join(names)};\r\n"
            f"\tbh={base64.b64encode(body_hash).decode('ascii')};\r\n\tb="
        ).encode("ascii")
        signed = b"".join(relaxed_header(by_name[name.encode()]) for name in names)
        signed += relaxed_header(head + b"\r\n")[:-2]  # without its CRLF (§3.7)
        value = base64.b64encode(self._key.sign(signed, padding.PKCS1v15(), hashes.SHA256()))
        folded = b"\r\n\t ".join(value[i : i + 72] for i in range(0, len(value), 72))
        return head + folded + b"\r\n"


@cache
def _signer(domain: str, selector: str, key_path: str) -> Signer:
    try:
        key = Path(key_path).read_bytes()
    except OSError as exc:
        raise ImproperlyConfigured(f"DKIM_PRIVATE_KEY cannot be read: {exc}") from exc
    return Signer(domain=domain, selector=selector, private_key=key)


def configured_signer() -> Signer | None:
    """The site's signer, or None when DKIM is not configured (the key is read once)."""
    domain, selector, key_path = (
        settings.DKIM_DOMAIN,
        settings.DKIM_SELECTOR,
        settings.DKIM_PRIVATE_KEY,
    )
    if not (domain and selector and key_path):
        return None
    return _signer(domain, selector, key_path)
