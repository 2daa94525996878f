"""A real SMTP server on loopback (aiosmtpd, in-process) for tests, benchmarks and the
end-to-end suite. It keeps what it receives and can misbehave on request, per recipient:

    sink.script("a@example.com", "452", "250")   # first try 452, the next one accepted
    sink.script("b@example.com", "disconnect")   # drop the connection during DATA
    sink.script("c@example.com", "slow")         # answer after `slow_seconds`
    sink.script("d@example.com", "garbage")      # an unparseable reply line

Any three-digit code is answered as such at the end of DATA, with a stock text, or with the
action itself when it carries one ("451 Greylisted, come back later"); "rcpt:550" refuses at
RCPT. Refusals of the session itself, whoever the recipient:

    sink.refuse_greeting("554")                  # the next connection: 554 instead of 220
    sink.refuse_mail_from("530", "550")          # the next two MAIL FROM commands

`SmtpSink(pipelining=True)` announces PIPELINING (the commands are read one by one anyway, as
a pipelining server must), `auth=("user", "password")` requires that login (PLAIN or LOGIN),
and `tls_context=` offers STARTTLS with that certificate and requires it before MAIL FROM.

aiosmtpd is a development dependency; production code never imports this module.
"""

import asyncio
import socket
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_to: str
    data: bytes
    mail_options: tuple[str, ...] = ()
    # When the server accepted it (time.time()): what rate tests measure.
    at: float = field(default_factory=time.time)

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _reply(action: str) -> str:
    """A scripted reply: the action itself when it has a text ("451 Greylisted"), else the
    code with its stock text."""
    return action if action[3:4] == " " else f"{action} {SmtpSink.text_for(action)}"


def _controller(handler: "_Handler", **options):
    """aiosmtpd's controller, with a server that can refuse the greeting (imported here:
    aiosmtpd is a development dependency)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    class Server(SMTP):
        async def _handle_client(self) -> None:
            # aiosmtpd sends its 220 greeting first thing in here, with no hook before it.
            refusal = handler.sink._pop(_GREETING)
            if refusal:
                await self.push(_reply(refusal))
                if self.transport is not None:
                    self.transport.close()
                return
            await super()._handle_client()

    class SinkController(Controller):
        def factory(self) -> SMTP:
            return Server(self.handler, **self.SMTP_kwargs)

    return SinkController(handler, **options)


# Script queues of the session itself; no address contains a space.
_GREETING = "session greeting"
_MAIL_FROM = "session mail from"


class _Handler:
    def __init__(self, sink: "SmtpSink") -> None:
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.sink.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        expected = tuple(part.encode() for part in self.sink.auth or ())
        ok = (auth_data.login, auth_data.password) == expected
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 235 or 535 itself

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        refusal = self.sink._pop(_MAIL_FROM)
        if refusal:
            return _reply(refusal)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        action = self.sink._peek(address)
        if action and action.startswith("rcpt:"):
            self.sink._pop(address)
            return _reply(action.split(":", 1)[1])
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        replies = []
        for address in envelope.rcpt_tos:
            action = self.sink._pop(address)
            if action == "disconnect":
                server.transport.close()
                return "421 closing"  # never reaches the client: the connection is gone
            if action == "slow":
                self.sink.stalling.set()
                await asyncio.sleep(self.sink.slow_seconds)
            elif action == "garbage":
                return "HELLO this is not SMTP"
            elif action and action[:3].isdigit() and not action.startswith("2"):
                replies.append(_reply(action))
                continue
            self.sink._store(
                Received(
                    envelope.mail_from,
                    address,
                    envelope.content,
                    tuple(envelope.mail_options),
                )
            )
            if action and action.startswith("2") and action[3:4] == " ":
                replies.append(action)
        return replies[0] if replies else "250 2.0.0 Ok: queued"


class SmtpSink:
    """Start with `with SmtpSink() as sink:`; `sink.port` is where it listens."""

    def __init__(
        self,
        *,
        port: int | None = None,
        slow_seconds: float = 3.0,
        pipelining: bool = False,
        auth: tuple[str, str] | None = None,
        tls_context=None,
        smtputf8: bool = False,
    ) -> None:
        self.host = "127.0.0.1"
        self.smtputf8 = smtputf8  # offer SMTPUTF8 (RFC 6531) in the EHLO reply
        self.port = port or free_port()
        self.slow_seconds = slow_seconds
        self.pipelining = pipelining
        self.auth = auth
        self.tls_context = tls_context
        # Set when a "slow" reply starts being held back: the client has sent the message
        # and waits (a test can act at that moment instead of guessing when it comes).
        self.stalling = threading.Event()
        self.keep_messages = True
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._counts: Counter[str] = Counter()
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self._controller: Any = None  # aiosmtpd is imported when a sink starts

    # -- control ---------------------------------------------------------------------------

    def start(self) -> "SmtpSink":
        handler = _Handler(self)
        options: dict[str, Any] = {}
        if self.auth is not None:
            options.update(authenticator=handler.authenticate, auth_require_tls=False)
        # aiosmtpd's controller offers SMTPUTF8 unless told otherwise; real relays often do not.
        options.update(enable_SMTPUTF8=self.smtputf8)
        if self.tls_context is not None:
            # STARTTLS offered, and required before MAIL: a message that arrives came over TLS.
            options.update(tls_context=self.tls_context, require_starttls=True)
        self._controller = _controller(
            handler, hostname=self.host, port=self.port, ready_timeout=10, **options
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def script(self, address: str, *actions: str) -> None:
        """Queue behaviours for the next tries to `address`; afterwards it is accepted."""
        with self._lock:
            self._scripts[address.lower()].extend(actions)

    def refuse_greeting(self, *codes: str) -> None:
        """Greet the next connections with these replies (and hang up) instead of 220."""
        self.script(_GREETING, *codes)

    def refuse_mail_from(self, *codes: str) -> None:
        """Answer the next MAIL FROM commands with these replies instead of 250."""
        self.script(_MAIL_FROM, *codes)

    # -- what arrived ------------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def count_for(self, address: str) -> int:
        with self._lock:
            return self._counts[address.lower()]

    @property
    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._counts.clear()

    @staticmethod
    def text_for(code: str) -> str:
        return {
            "421": "4.3.2 Service shutting down, closing channel",
            "530": "5.7.0 Authentication required",
            "451": "4.3.0 Temporary local problem, try again later",
            "452": "4.2.2 Mailbox full, try again later",
            "550": "5.1.1 Mailbox unavailable: no such user",
            "554": "5.7.1 Message rejected as spam",
        }.get(code, "Scripted reply")

    # -- internals ---------------------------------------------------------------------------

    def _peek(self, address: str) -> str | None:
        with self._lock:
            queue = self._scripts.get(address.lower())
            return queue[0] if queue else None

    def _pop(self, address: str) -> str | None:
        with self._lock:
            queue = self._scripts.get(address.lower())
            return queue.popleft() if queue else None

    def _store(self, received: Received) -> None:
        with self._lock:
            self._counts[received.rcpt_to.lower()] += 1
            if self.keep_messages:
                self._received.append(received)


def main() -> None:
    """Serve as a standalone sink process (benchmarks): `python -m mailing.smtp_sink --port N`.

    Prints "ready <port>" once listening, and the number of messages received when stopped
    with SIGTERM or SIGINT."""
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=None)
    options = parser.parse_args()
    sink = SmtpSink(port=options.port)
    sink.keep_messages = False
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    with sink:
        print(f"ready {sink.port}", flush=True)
        stopped.wait()
    print(f"received {sink.total}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
