"""How a rendered message leaves the building.

`SmtpTransport` talks SMTP itself (smtplib underneath) so that a message can be sent in two
steps: `begin` does everything up to the server's go-ahead for DATA, `commit` sends the body
with the final "." and reads the reply. Until that dot the server discards the message if we die, so only the
commit step is ambiguous — which is what lets the engine promise that a killed sender leaves
at most the one message in flight undecided. One connection carries many messages.

`DjangoBackendTransport` wraps any other Django email backend (files in development,
memory in tests): it has no such split, so its whole send is the commit step.
"""

import contextlib
import dataclasses
import re
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate, parseaddr

from django.conf import settings
from django.core import mail
from django.core.mail.utils import DNS_NAME

TEMPORARY = "temporary"
PERMANENT = "permanent"
SUCCESS = "success"


@dataclass(frozen=True)
class Reply:
    """The outcome of one try: the SMTP code (0 when there was none) and the server's text."""

    code: int
    text: str
    # Set when the connection can no longer be trusted and must be reopened.
    broken: bool = False
    # A refusal of our session (greeting, EHLO, STARTTLS, AUTH, MAIL FROM): a blocked client
    # host, a bad password or a refused sender says nothing about the recipient, and failing
    # every queued recipient of every user on it would be wrong; even a 5xx there is retried.
    session: bool = False
    # A failure no retry can cure although no server said so (a message that cannot be built).
    final: bool = False

    @property
    def kind(self) -> str:
        if 200 <= self.code < 300:
            return SUCCESS
        if self.final or (500 <= self.code < 600 and not self.session):
            return PERMANENT
        # 4xx, a refused session, no reply at all, or a reply we could not parse: try again.
        return TEMPORARY

    def __str__(self) -> str:
        return f"{self.code} {self.text}" if self.code > 0 else self.text


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipient: str
    payload: bytes  # the whole message, CRLF line ends, dot-stuffed, ending in CRLF


class RenderedMessage:
    """A message rendered once per run; `envelope()` only adds the per-recipient headers."""

    def __init__(
        self, *, subject: str, body: str, from_email: str, reply_to: str | None, run_id: int
    ) -> None:
        message = EmailMessage(policy=SMTP_POLICY)
        message["Subject"] = subject  # the email package refuses line breaks here too
        message["From"] = from_email
        if reply_to:
            message["Reply-To"] = reply_to
        # No Date here: it is the time of sending, added per recipient by `envelope`.
        message.set_content(body, cte="quoted-printable")
        self.subject = subject
        self.body = body
        self.from_email = from_email
        self.reply_to = reply_to
        self.envelope_sender = parseaddr(from_email)[1]
        self._run_id = run_id
        self._domain = self.envelope_sender.rpartition("@")[2] or DNS_NAME.get_fqdn()
        self._tail = _dot_stuff(message.as_bytes())

    def to_header(self, *, email: str, full_name: str) -> str:
        # Whatever the database holds, a display name never breaks the header: a CR or LF
        # would start new header lines, and (as the head is not dot-stuffed) even whole SMTP
        # commands. formataddr quotes but keeps them, so every control character becomes a space.
        return formataddr((_CONTROL.sub(" ", full_name), email), charset="utf-8")

    def message_id(self, delivery_id: int) -> str:
        # Fixed per delivery: a retried or re-sent delivery carries the same id, so receiving
        # systems can recognise a duplicate.
        return f"<mailing.{self._run_id}.{delivery_id}@{self._domain}>"

    def envelope(self, *, delivery_id: int, email: str, full_name: str) -> Envelope:
        head = (
            f"To: {self.to_header(email=email, full_name=full_name)}\r\n"
            f"Message-ID: {self.message_id(delivery_id)}\r\n"
            f"Date: {_date_header()}\r\n"
        ).encode("ascii")
        return Envelope(sender=self.envelope_sender, recipient=email, payload=head + self._tail)


_date_cache: tuple[int, str] = (0, "")


def _date_header() -> str:
    """Now, as a Date header: a retry hours later says when it was sent, not rendered.

    formatdate costs about 17 µs, a few per cent of a sender's CPU at full speed, so the text
    is kept for the second it names (replacing the tuple is atomic for the threads)."""
    global _date_cache
    now = time.time()
    second, text = _date_cache
    if second != int(now):
        text = formatdate(now, localtime=True)
        _date_cache = (int(now), text)
    return text


def _dot_stuff(data: bytes) -> bytes:
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", data)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


class SmtpTransport:
    """One SMTP connection, reused for many messages."""

    def __init__(self) -> None:
        self.host = settings.EMAIL_HOST
        self.port = settings.EMAIL_PORT
        self.username = settings.EMAIL_HOST_USER
        self.password = settings.EMAIL_HOST_PASSWORD
        self.use_tls = settings.EMAIL_USE_TLS
        self.use_ssl = settings.EMAIL_USE_SSL
        self.timeout = settings.EMAIL_TIMEOUT
        self._smtp: smtplib.SMTP | None = None
        self._in_transaction = False
        self._payload = b""

    def open(self) -> Reply | None:
        """Connect; returns a failure reply when the server cannot be reached."""
        if self._smtp is not None:
            return None
        try:
            if self.use_ssl:
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=DNS_NAME.get_fqdn(),
                    timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(
                    self.host, self.port, local_hostname=DNS_NAME.get_fqdn(), timeout=self.timeout
                )
            # smtplib would otherwise take the first hop's Nagle delay on every command.
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp.ehlo_or_helo_if_needed()
            if self.use_tls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.username and self.password:
                smtp.login(self.username, self.password)
        except smtplib.SMTPResponseException as exc:
            # The greeting, EHLO, STARTTLS or AUTH was refused: about us, not any recipient.
            return Reply(exc.smtp_code, _text(exc.smtp_error), broken=True, session=True)
        except (smtplib.SMTPException, OSError) as exc:
            return _exception_reply(exc, "connect")
        self._smtp = smtp
        return None

    def begin(
        self, message: RenderedMessage, *, delivery_id: int, email: str, full_name: str
    ) -> Reply | None:
        """MAIL, RCPT and DATA; a reply means the server refused before the message.

        The commands are written as bytes and read with `_read_reply` rather than through
        smtplib's per-command helpers, which parse and re-quote every address: that was a
        third of a sender's CPU. Where the server offers PIPELINING, the three commands
        share one write and one round trip."""
        smtp = self._smtp
        assert smtp is not None, "open() first"
        if _UNSAFE_ADDRESS.search(email):
            # A line break here would end the command and start another one.
            return Reply(
                553, "The address contains spaces or control characters and cannot be sent to"
            )
        try:
            envelope = message.envelope(delivery_id=delivery_id, email=email, full_name=full_name)
            commands = (
                b"MAIL FROM:<" + envelope.sender.encode("ascii") + b">\r\n",
                b"RCPT TO:<" + envelope.recipient.encode("ascii") + b">\r\n",
                b"DATA\r\n",
            )
            expected = ((250,), (250, 251), (354,))
            if smtp.has_extn("pipelining"):
                smtp.sock.sendall(b"".join(commands))
                replies = [_read_reply(smtp) for _ in commands]
            else:
                replies = []
                for command, codes in zip(commands, expected, strict=True):
                    smtp.sock.sendall(command)
                    replies.append(_read_reply(smtp))
                    if replies[-1].code not in codes:
                        break
            step, refusal = next(
                (
                    (step, r)
                    for step, (r, codes) in enumerate(zip(replies, expected, strict=False))
                    if r.code not in codes
                ),
                (None, None),
            )
            if refusal is not None:
                if replies[-1].code == 354:
                    # A pipelining server accepted DATA after refusing an earlier step:
                    # close the empty message before resetting.
                    smtp.sock.sendall(b".\r\n")
                    _read_reply(smtp)
                if step == 0:
                    # MAIL FROM refused: our sender or session, not this recipient.
                    refusal = dataclasses.replace(refusal, session=True)
                return self._refused(refusal)
            self._in_transaction = True
            self._payload = envelope.payload
        except UnicodeEncodeError:
            # Without SMTPUTF8 an address must be plain ASCII; this one will never get through.
            return Reply(553, "The address is not plain ASCII and cannot be sent to")
        except (smtplib.SMTPException, OSError) as exc:
            return self._broken(exc, "sending")
        return None

    def commit(self) -> Reply:
        """The body and the final dot, in one write: from here the server owns the message."""
        smtp = self._smtp
        assert smtp is not None and self._in_transaction
        self._in_transaction = False
        payload, self._payload = self._payload, b""
        try:
            smtp.sock.sendall(payload + b".\r\n")
            reply = _read_reply(smtp)
        except (smtplib.SMTPException, OSError) as exc:
            return self._broken(exc, "waiting for the reply to DATA")
        if reply.broken or reply.code == 421:
            self.close()
            return Reply(reply.code, reply.text, broken=True)
        return reply

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _refused(self, reply: Reply) -> Reply:
        if reply.broken or reply.code == 421:
            # Garbage, or the server is closing the channel: this connection is done.
            self.close()
            return Reply(reply.code, reply.text, broken=True)
        try:
            self._smtp.sock.sendall(b"RSET\r\n")
            _read_reply(self._smtp)
        except (smtplib.SMTPException, OSError):
            self.close()
        return reply

    def _broken(self, exc: BaseException, stage: str) -> Reply:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None
        return _exception_reply(exc, stage)


class DjangoBackendTransport:
    """Any configured Django email backend (file, console, memory) behind the same interface."""

    def __init__(self) -> None:
        self._connection = None
        self._pending: mail.EmailMessage | None = None

    def open(self) -> Reply | None:
        try:
            self._connection = mail.get_connection(fail_silently=False)
            self._connection.open()
        except Exception as exc:  # any backend, any failure: report it, never crash
            self._connection = None
            return _exception_reply(exc, "connect")
        return None

    def begin(
        self, message: RenderedMessage, *, delivery_id: int, email: str, full_name: str
    ) -> Reply | None:
        self._pending = mail.EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=message.from_email,
            to=[message.to_header(email=email, full_name=full_name)],
            reply_to=[message.reply_to] if message.reply_to else None,
            headers={"Message-ID": message.message_id(delivery_id)},
            connection=self._connection,
        )
        return None

    def commit(self) -> Reply:
        pending, self._pending = self._pending, None
        try:
            pending.send(fail_silently=False)
        except Exception as exc:
            return _exception_reply(exc, "sending")
        return Reply(250, f"Accepted by {type(self._connection).__module__}")

    def close(self) -> None:
        if self._connection is not None:
            # Closing a backend that already failed may fail again; there is nothing to keep.
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None


_MAX_LINE = 8192


def _read_reply(smtp: smtplib.SMTP) -> Reply:
    """Read one (possibly multi-line) reply, keeping an unparseable one verbatim.

    smtplib's own getreply() drops the first four characters of a line it cannot parse;
    the report should show the operator exactly what the server said."""
    if smtp.file is None:
        smtp.file = smtp.sock.makefile("rb")
    lines = []
    while True:
        line = smtp.file.readline(_MAX_LINE + 1)
        if not line:
            smtp.close()
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        lines.append(line.rstrip(b"\r\n"))
        if line[3:4] != b"-":
            break
    last = lines[-1]
    if len(last) >= 3 and last[:3].isdigit() and last[3:4] in (b"", b" "):
        return Reply(int(last[:3]), _text(b" ".join(item[4:] for item in lines)))
    return Reply(0, f"Unreadable reply from the mail server: {_text(b' '.join(lines))}", True)


def uses_smtp() -> bool:
    return settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"


# C0 and C1 control characters, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNSAFE_ADDRESS = re.compile("[\\s<>\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _text(value: bytes | str) -> str:
    """A server's text, fit to store and show: one line, no control characters (a NUL cannot
    even be stored in PostgreSQL text, and would fail the whole group of records with it)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(_CONTROL.sub(" ", value).split())


def _exception_reply(exc: BaseException, stage: str) -> Reply:
    if isinstance(exc, smtplib.SMTPResponseException):
        return Reply(exc.smtp_code, _text(exc.smtp_error), broken=True)
    # smtplib wraps a read timeout in SMTPServerDisconnected; the cause tells them apart.
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        text = f"No reply from the mail server within {settings.EMAIL_TIMEOUT} s ({stage})"
    elif isinstance(exc, ConnectionRefusedError):
        text = "Connection refused by the mail server"
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        text = f"The mail server closed the connection ({stage})"
    elif isinstance(exc, (ConnectionError, OSError)):
        text = f"Network error ({stage}): {exc.strerror or exc}"
    else:
        text = f"{type(exc).__name__} ({stage}): {exc}"
    return Reply(0, _text(text), broken=True)
