"""What a try came to: `Reply`, and the texts the engine records for what servers say and do."""

import re
import smtplib
from typing import NamedTuple

from django.conf import settings


class Reply(NamedTuple):
    """The outcome of one try: the SMTP code (0 when there was none) and the server's text."""

    code: int
    text: str
    # Set when the connection can no longer be trusted and must be reopened.
    broken: bool = False
    # A refusal of our session (greeting, EHLO, STARTTLS, AUTH, MAIL FROM): a blocked client
    # host, a bad password or a refused sender says nothing about the recipient.
    session: bool = False
    # A failure no retry can cure although no server said so (a message that cannot be built).
    final: bool = False

    def __str__(self) -> str:
        return f"{self.code} {self.text}" if self.code > 0 else self.text


def envelope_address(address: str) -> str:
    """`address` as it goes into MAIL FROM / RCPT TO: its domain in IDNA (punycode) form
    (`user@пример.рф` → `user@xn--e1afmkfd.xn--p1ai`); the part before "@" as it is. Raises
    UnicodeError for a domain that has no IDNA form."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    return f"{local}@{domain.encode('idna').decode('ascii')}"


def needs_smtputf8(address: str) -> bool:
    """Whether `address` can only be sent with SMTPUTF8 (its part before "@" is not ASCII)."""
    return not address.rpartition("@")[0].isascii()


def address_refusal(address: str, *, smtputf8: bool | None = None) -> Reply | None:
    """Why `address` cannot go into an SMTP command, or None when it can. `smtputf8`: whether
    the server offers SMTPUTF8 (None: what the MAILING_SMTPUTF8 setting says of the relay)."""
    if _UNSAFE_ADDRESS.search(address):
        # A line break here would end the command and start another one.
        return Reply(553, "The address contains spaces or control characters and cannot be sent to")
    try:
        envelope_address(address)
    except UnicodeError:
        return Reply(553, "The address's domain has no international (IDNA) form")
    if needs_smtputf8(address):
        if smtputf8 is None:
            smtputf8 = settings.MAILING_SMTPUTF8
        if not smtputf8:
            # Without SMTPUTF8 the part before "@" must be plain ASCII: it never gets through.
            return Reply(
                553, "The address is not plain ASCII and the mail server does not offer SMTPUTF8"
            )
    return None


def uses_smtp() -> bool:
    return settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"


# C0 and C1 control characters, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNSAFE_ADDRESS = re.compile("[\\s<>\x00-\x1f\x7f-\x9f\u2028\u2029]")


def server_text(value: bytes | str) -> str:
    """A server's text, fit to store and show: one line, no control characters (a NUL cannot
    even be stored in PostgreSQL text, and would fail the whole group of records with it)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not value.isprintable():  # control characters, and the line and paragraph separators
        value = _CONTROL.sub(" ", value)
    return " ".join(value.split())


def parsed_reply(parsed: tuple[int, list[bytes]]) -> Reply:
    """A parsed reply as a `Reply`, keeping an unparseable one verbatim for the report."""
    code, lines = parsed
    if code:
        return Reply(code, server_text(b" ".join(line[4:] for line in lines)))
    return Reply(0, f"Unreadable reply from the mail server: {server_text(b' '.join(lines))}", True)


def session_refusal(parsed: tuple[int, list[bytes]]) -> Reply:
    """The greeting, EHLO, STARTTLS or AUTH was refused: about us, not any recipient."""
    return parsed_reply(parsed)._replace(broken=True, session=True)


def exception_reply(exc: BaseException, stage: str) -> Reply:
    if isinstance(exc, smtplib.SMTPResponseException):  # from a Django backend
        return Reply(exc.smtp_code, server_text(exc.smtp_error), broken=True)
    # smtplib wraps a read timeout in SMTPServerDisconnected; the cause tells them apart.
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        text = f"No reply from the mail server within {settings.EMAIL_TIMEOUT} s ({stage})"
    elif isinstance(exc, ConnectionRefusedError):
        text = "Connection refused by the mail server"
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        text = f"The mail server closed the connection ({stage})"
    elif isinstance(exc, OSError):
        text = f"Network error ({stage}): {exc.strerror or exc}"
    else:
        text = f"{type(exc).__name__} ({stage}): {exc}"
    return Reply(0, server_text(text), broken=True)
