"""Any other Django email backend (files in development, memory in tests) behind the steps of
an SMTP connection."""

import contextlib
import re
from email import message_from_bytes
from email.policy import SMTP as SMTP_POLICY
from typing import Any

from django.core import mail

from .replies import Reply, exception_reply


class DjangoBackendConnection:
    """Any configured Django email backend (file, console, memory) behind the same steps."""

    deadline = 0.0  # a backend call blocks until it is done: nothing for the watchdog
    pipelining = False

    def __init__(self) -> None:
        self._backend: Any = None
        self._envelope = ("", "")

    def expire(self, now: float) -> None:
        pass

    @property
    def is_open(self) -> bool:
        return self._backend is not None

    async def open(self) -> Reply | None:
        try:
            self._backend = mail.get_connection(fail_silently=False)
            self._backend.open()
        except Exception as exc:  # any backend, any failure: report it, never crash
            self._backend = None
            return exception_reply(exc, "connect")
        return None

    async def begin_pipelined(self) -> tuple[bool, Reply | None]:
        """Never called: a backend does not pipeline (`pipelining` is False)."""
        raise NotImplementedError("a Django email backend does not pipeline")

    async def begin(self, sender: str, recipient: str) -> Reply | None:
        self._envelope = (sender, recipient)
        return None

    async def commit(self, data: bytes, *, then: tuple[str, str] | None = None) -> Reply:
        sender, recipient = self._envelope
        try:
            message = _RenderedEmail(data, sender=sender, recipient=recipient)
            self._backend.send_messages([message])
        except Exception as exc:
            return exception_reply(exc, "sending")
        return Reply(250, f"Accepted by {type(self._backend).__module__}")

    async def close(self) -> None:
        self.abandon()

    def abandon(self) -> None:
        if self._backend is not None:
            # Closing a backend that already failed may fail again; there is nothing to keep.
            with contextlib.suppress(Exception):
                self._backend.close()
            self._backend = None


class _RenderedEmail(mail.EmailMessage):
    """Rendered bytes as a Django message, for backends that take EmailMessage objects."""

    def __init__(self, data: bytes, *, sender: str, recipient: str) -> None:
        # Back from the wire form: no dot-stuffing.
        data = re.sub(rb"(?m)^\.\.", b".", data)
        self._parsed = message_from_bytes(data, policy=SMTP_POLICY)
        super().__init__(
            subject=str(self._parsed.get("Subject", "")), from_email=sender, to=[recipient]
        )

    def message(self, *args: Any, **kwargs: Any) -> Any:
        return self._parsed
