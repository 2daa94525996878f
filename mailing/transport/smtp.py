"""SMTP itself, as an asyncio Protocol on the sender's event loop."""

import asyncio
import base64
import ssl
from collections import deque

from django.conf import settings
from django.core.mail.utils import DNS_NAME

from .replies import (
    Reply,
    address_refusal,
    envelope_address,
    exception_reply,
    needs_smtputf8,
    parsed_reply,
    session_refusal,
)

_MAX_LINE = 8192
_ENVELOPE_CODES = ((250,), (250, 251), (354,))
_STAGE_DATA = "waiting for the reply to DATA"


class SmtpConnection(asyncio.Protocol):
    """One SMTP connection on the running event loop, reused for many messages.

    Every coroutine returns a `Reply` on failure (and None or the server's reply otherwise);
    none raises for anything the network or the server does."""

    def __init__(self) -> None:
        self.host = settings.EMAIL_HOST
        self.port = settings.EMAIL_PORT
        self.timeout = settings.EMAIL_TIMEOUT
        self.use_tls = settings.EMAIL_USE_TLS
        self.use_ssl = settings.EMAIL_USE_SSL
        self.username = settings.EMAIL_HOST_USER
        self.password = settings.EMAIL_HOST_PASSWORD
        # The loop time by which the awaited reply must have come; 0 while nothing is awaited.
        self.deadline = 0.0
        self.pipelining = False
        self.extensions: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._ready = False
        self._failure: Reply | None = None
        self._stage = "connect"
        self._buffer = b""
        self._lines: list[bytes] = []
        self._replies: deque[tuple[int, list[bytes]]] = deque()
        self._waiter: asyncio.Future | None = None
        self._wanted = 0
        self._mail_from: dict[tuple[str, bool], bytes] = {}
        self._pipelined = False

    @property
    def is_open(self) -> bool:
        return self._ready and self._failure is None

    # -- the protocol: bytes in ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._buffer:
            data = self._buffer + data
        *complete, self._buffer = data.split(b"\n")
        lines, replies = self._lines, self._replies
        for line in complete:
            if line[-1:] == b"\r":
                line = line[:-1]
            lines.append(line)
            if line[3:4] == b"-":
                continue  # a multi-line reply goes on
            code = line[:3]
            valid = code.isdigit() and line[3:4] in (b"", b" ")
            replies.append((int(code) if valid else 0, lines))
            lines = self._lines = []
        if len(self._buffer) > _MAX_LINE:
            replies.append((0, [*self._lines, self._buffer[:200]]))
            self._buffer, self._lines = b"", []
        if self._waiter is not None and len(replies) >= self._wanted:
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if exc is None:
            self._fail(Reply(0, f"The mail server closed the connection ({self._stage})", True))
        else:
            self._fail(exception_reply(exc, self._stage))

    def expire(self, now: float) -> None:
        """Called by the sender's watchdog: give up on a reply that is overdue."""
        if self.deadline and now > self.deadline:
            text = f"No reply from the mail server within {self.timeout} s ({self._stage})"
            self._fail(Reply(0, text, broken=True))

    # -- steps -----------------------------------------------------------------------------

    async def open(self) -> Reply | None:
        """Connect, greet, EHLO (or HELO), STARTTLS and AUTH as configured; None when ready."""
        self._loop = loop = asyncio.get_running_loop()
        context = ssl.create_default_context() if self.use_ssl or self.use_tls else None
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: self,
                    self.host,
                    self.port,
                    ssl=context if self.use_ssl else None,
                    server_hostname=self.host if self.use_ssl else None,
                ),
                self.timeout,
            )
        except (OSError, TimeoutError) as exc:
            return exception_reply(exc, "connect")
        refusal = await self._handshake(context)
        if refusal is not None:
            self.abandon()
            return refusal
        self._ready = True
        return None

    async def begin(self, sender: str, recipient: str) -> Reply | None:
        """MAIL, RCPT and DATA; a reply means the server refused before the message."""
        refusal = address_refusal(recipient, smtputf8=self.smtputf8)
        if refusal is not None:
            return refusal
        mail_from, rcpt = self._envelope_commands(sender, recipient)
        self._stage = "sending"
        if self.pipelining:
            self._write(mail_from + rcpt + b"DATA\r\n")
            replies = await self._read(3)
            if replies is None:
                return self._failure
            if replies[0][0] == 250 and replies[1][0] in (250, 251) and replies[2][0] == 354:
                return None
        else:
            replies = []
            for command, codes in zip((mail_from, rcpt, b"DATA\r\n"), _ENVELOPE_CODES, strict=True):
                self._write(command)
                got = await self._read(1)
                if got is None:
                    return self._failure
                replies += got
                if got[0][0] not in codes:
                    break
            else:
                return None
        return await self._refused(replies)

    async def commit(self, data: bytes, *, then: tuple[str, str] | None = None) -> Reply:
        """The message and the final dot, in one write: from here the server owns it.

        `then` (sender, recipient), on a pipelining connection: the next message's MAIL, RCPT
        and DATA go in the same write; `begin_pipelined` reads their replies."""
        if then is not None and address_refusal(then[1], smtputf8=self.smtputf8) is not None:
            then = None  # `begin_pipelined` answers "not tried": `begin` says why, on its own
        self._stage = _STAGE_DATA
        self._pipelined = then is not None
        if then is None:
            self._write(data + b".\r\n")
        else:
            self._write(data + b".\r\n" + self._envelope(*then))
        replies = await self._read(1)
        if replies is None:
            return self._failure  # type: ignore[return-value]
        reply = parsed_reply(replies[0])
        if reply.broken or reply.code == 421:
            # Garbage, or the server is closing the channel: this connection is done.
            self.abandon()
            return reply._replace(broken=True)
        return reply

    async def begin_pipelined(self) -> tuple[bool, Reply | None]:
        """The replies to the envelope `commit(..., then=...)` sent: (True, None) when DATA
        may follow, (False, refusal) when the server refused, (False, None) when the connection
        failed before the server answered (the message was not tried)."""
        self._stage = "sending"
        if not self._pipelined or self._failure is not None:
            return False, None
        self._pipelined = False
        replies = await self._read(3)
        if replies is None:
            return False, None
        if replies[0][0] == 250 and replies[1][0] in (250, 251) and replies[2][0] == 354:
            return True, None
        return False, await self._refused(replies)

    async def close(self) -> None:
        """QUIT politely (waiting a moment for the goodbye), then close."""
        if self.is_open:
            self._write(b"QUIT\r\n")
            await self._read(1, timeout=min(self.timeout, 2))
        self.abandon()

    def abandon(self) -> None:
        """Drop the connection now; a message between DATA and its dot is discarded by the
        server."""
        self._ready = False
        if self._transport is not None:
            self._transport.abort()
            self._transport = None
        if self._failure is None:
            self._failure = Reply(0, "The connection was closed", broken=True)

    # -- internals ----------------------------------------------------------------------------

    @property
    def smtputf8(self) -> bool:
        """Whether the server offered SMTPUTF8 (RFC 6531) in its EHLO reply."""
        return "smtputf8" in self.extensions

    def _envelope_commands(self, sender: str, recipient: str) -> tuple[bytes, bytes]:
        """MAIL FROM and RCPT TO: domains in IDNA form; an address that needs SMTPUTF8 (only
        sent to a server that offers it, `begin`) in UTF-8, with SMTPUTF8 on its MAIL FROM."""
        sender, recipient = envelope_address(sender), envelope_address(recipient)
        utf8 = needs_smtputf8(recipient) or needs_smtputf8(sender)
        mail_from = self._mail_from.get((sender, utf8))
        if mail_from is None:
            mail_from = b"MAIL FROM:<" + sender.encode("utf-8") + b">"
            mail_from += b" SMTPUTF8\r\n" if utf8 else b"\r\n"
            self._mail_from[(sender, utf8)] = mail_from
        return mail_from, b"RCPT TO:<" + recipient.encode("utf-8") + b">\r\n"

    def _envelope(self, sender: str, recipient: str) -> bytes:
        mail_from, rcpt = self._envelope_commands(sender, recipient)
        return mail_from + rcpt + b"DATA\r\n"

    async def _handshake(self, context: ssl.SSLContext | None) -> Reply | None:
        greeting = await self._read(1)
        if greeting is None:
            return self._failure
        if greeting[0][0] != 220:
            return session_refusal(greeting[0])
        refusal = await self._ehlo()
        if refusal is None and self.use_tls:
            refusal = await self._starttls(context)
        if refusal is None and self.username and self.password:
            refusal = await self._login()
        return refusal

    async def _ehlo(self) -> Reply | None:
        self._write(b"EHLO " + DNS_NAME.get_fqdn().encode("idna") + b"\r\n")
        replies = await self._read(1)
        if replies is None:
            return self._failure
        code, lines = replies[0]
        if code == 250:
            self.extensions = {}
            for line in lines[1:]:
                keyword, _, params = line[4:].decode("ascii", "replace").partition(" ")
                self.extensions[keyword.lower()] = params.strip()
            self.pipelining = "pipelining" in self.extensions
            return None
        self._write(b"HELO " + DNS_NAME.get_fqdn().encode("idna") + b"\r\n")
        replies = await self._read(1)
        if replies is None:
            return self._failure
        self.extensions, self.pipelining = {}, False
        return None if replies[0][0] == 250 else session_refusal(replies[0])

    async def _starttls(self, context: ssl.SSLContext | None) -> Reply | None:
        if "starttls" not in self.extensions:
            return Reply(0, "The mail server does not offer STARTTLS", broken=True, session=True)
        self._write(b"STARTTLS\r\n")
        replies = await self._read(1)
        if replies is None:
            return self._failure
        if replies[0][0] != 220:
            return session_refusal(replies[0])
        assert self._loop is not None and self._transport is not None and context is not None
        try:
            self._transport = await asyncio.wait_for(
                self._loop.start_tls(self._transport, self, context, server_hostname=self.host),
                self.timeout,
            )
        except (OSError, TimeoutError) as exc:
            return exception_reply(exc, "connect")
        return await self._ehlo()

    async def _login(self) -> Reply | None:
        methods = self.extensions.get("auth", "").upper().split()
        user, password = self.username.encode(), self.password.encode()
        if "PLAIN" in methods:
            steps = [b"AUTH PLAIN " + base64.b64encode(b"\0" + user + b"\0" + password)]
        elif "LOGIN" in methods:
            steps = [b"AUTH LOGIN", base64.b64encode(user), base64.b64encode(password)]
        else:
            text = (
                "The mail server offers no authentication method this sender knows (PLAIN, LOGIN)"
            )
            return Reply(0, text, broken=True, session=True)
        for number, step in enumerate(steps, start=1):
            self._write(step + b"\r\n")
            replies = await self._read(1)
            if replies is None:
                return self._failure
            expected = 235 if number == len(steps) else 334
            if replies[0][0] != expected:
                return session_refusal(replies[0])
        return None

    async def _refused(self, replies: list[tuple[int, list[bytes]]]) -> Reply:
        step = next(
            i
            for i, ((code, _), ok) in enumerate(zip(replies, _ENVELOPE_CODES, strict=False))
            if code not in ok
        )
        refusal = parsed_reply(replies[step])
        if replies[-1][0] == 354:
            # A pipelining server accepted DATA after refusing an earlier step: close the empty
            # message before resetting.
            self._write(b".\r\n")
            await self._read(1)
        if step == 0:
            # MAIL FROM refused: our sender or session, not this recipient.
            refusal = refusal._replace(session=True)
        if refusal.broken or refusal.code == 421:
            self.abandon()
            return refusal._replace(broken=True)
        self._write(b"RSET\r\n")
        if await self._read(1) is None:
            self.abandon()
        return refusal

    def _write(self, data: bytes) -> None:
        if self._transport is not None and self._failure is None:
            self._transport.write(data)

    async def _read(
        self, count: int, *, timeout: float | None = None
    ) -> list[tuple[int, list[bytes]]] | None:
        """The next `count` replies, or None when the connection failed first (`_failure`
        says how). Replies that arrived before a failure still count: a message accepted just
        before the server hung up was accepted."""
        replies = self._replies
        if len(replies) < count and self._failure is None:
            assert self._loop is not None
            self._wanted = count
            self._waiter = self._loop.create_future()
            self.deadline = self._loop.time() + (self.timeout if timeout is None else timeout)
            await self._waiter
        if len(replies) >= count:
            if count == 1:
                return [replies.popleft()]
            return [replies.popleft() for _ in range(count)]
        return None

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        self.deadline = 0.0
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, reply: Reply) -> None:
        if self._failure is None:
            self._failure = reply
        self._ready = False
        if self._transport is not None:
            self._transport.abort()
            self._transport = None
        self._wake()
