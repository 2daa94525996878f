"""Bytes on the wire: SMTP connections for the sender's event loop, and any other Django email
backend behind the same steps.

A connection sends a message in two steps: `begin` (MAIL, RCPT and DATA, up to the server's
go-ahead) and `commit` (the message and the final "."). Until that dot the server discards the
message if we die, so only the commit step is ambiguous — which is what lets the engine promise
that a killed sender leaves at most MAILING_COMMIT_EVERY messages sent but unrecorded. One
connection carries many messages.

`SmtpConnection` speaks SMTP itself as an asyncio Protocol: replies are parsed from the bytes as
they arrive (no StreamReader, no smtplib: a third of a sender's time went into smtplib's
per-command parsing and quoting), MAIL, RCPT and DATA share one write where the server offers
PIPELINING, and a read's timeout is a deadline that the sender's watchdog checks instead of a
timer per read. What it sends is what the content layer rendered (`mailing.content`): CRLF
line ends, dot-stuffed. `DjangoBackendConnection` hands the same bytes to the configured Django
backend (files in development, memory in tests); it has no such split, so its whole send is
the commit step, and it blocks the event loop while it runs (one connection, no parallelism).
"""

from .backend import DjangoBackendConnection
from .replies import Reply, address_refusal, uses_smtp
from .smtp import SmtpConnection

__all__ = ["DjangoBackendConnection", "Reply", "SmtpConnection", "address_refusal", "uses_smtp"]
