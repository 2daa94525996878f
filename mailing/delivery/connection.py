"""One SMTP connection's work, on the sender's loop: claims off the shared feed, each
prepared (throttle, address, the recipient's bytes), sent in two steps with a slot held over
the final dot, and judged.

Where the server offers PIPELINING, the next message's MAIL, RCPT and DATA go in the same
write as the final dot of the one before (RFC 2920 lets message content open a group): one
round trip a message instead of two.
"""

import asyncio
import logging
from typing import TYPE_CHECKING

from ..content import RecipientContext
from ..transport import DjangoBackendConnection, Reply, SmtpConnection, address_refusal
from .policy import Hold
from .queue import Claimed

if TYPE_CHECKING:
    from .sender import Sender

logger = logging.getLogger("mailing.delivery")

Connection = SmtpConnection | DjangoBackendConnection
Prepared = tuple[Claimed, str, bytes]  # the claim, its envelope sender, its bytes


class _Wait:
    """`_prepare`'s answer when the throttle asks for a wait the caller will not make."""


_WAIT = _Wait()


class Worker:
    def __init__(self, sender: "Sender", index: int) -> None:
        self.sender = sender
        self.index = index
        self.connection: Connection | None = None

    async def run(self) -> None:
        """Take claims off the feed until it is empty, or the pass stops."""
        sender = self.sender
        try:
            if self.index:
                await sender.wait_for_ramp()  # the first connection opens alone
            ready: Prepared | None = None  # its DATA already accepted
            while True:
                if ready is None:
                    if (claim := await sender.next_claim()) is None:
                        return
                    prepared = await self._prepare(claim)
                    if not isinstance(prepared, tuple):
                        continue  # done with: recorded, deferred or given back
                    connection, retire = await self._connection(claim)
                    if retire:
                        return
                    if connection is None:
                        continue
                    # Refused before the end of DATA: not sent, nothing ambiguous to bound.
                    refusal = await connection.begin(prepared[1], claim.email)
                    if refusal is not None:
                        sender.record(claim, refusal, slot=False)
                        continue
                    ready = prepared
                connection = self.connection
                assert connection is not None
                claim, _, data = ready
                ready = None
                if not await sender.take_slot():
                    # Stopping: the server discards a message whose dot never came.
                    connection.abandon()
                    sender.give_back(claim)
                    return
                following = await self._prepare_next() if connection.pipelining else None
                then = None if following is None else (following[1], following[0].email)
                sender.record(claim, await connection.commit(data, then=then), slot=True)
                if following is not None:
                    accepted, refusal = await connection.begin_pipelined()
                    if accepted:
                        ready = following
                    elif refusal is not None:
                        sender.record(following[0], refusal, slot=False)
                    else:  # the connection broke before the server read it: not a try
                        sender.put_back(following[0])
        except BaseException:
            logger.exception("delivery.worker_failed")
            sender.stop()
            raise
        finally:
            if self.connection is not None:
                sender.closed(self.connection)
                await self.connection.close()

    async def _connection(self, claim: Claimed) -> tuple[Connection | None, bool]:
        """This worker's open connection (a new one when there is none, or it broke), or
        (None, retire) when it cannot open: then the claims in hand take its reply as this try,
        or, while other connections work, this one retires (`retire`) and leaves `claim` to
        them."""
        if self.connection is not None:
            if self.connection.is_open:
                return self.connection, False
            self.sender.closed(self.connection)  # broken: a new one follows
        sender = self.sender
        self.connection = connection = (
            SmtpConnection() if sender.smtp else DjangoBackendConnection()
        )
        sender.watch(connection)
        refusal = await connection.open()
        if refusal is None:
            sender.opened(connection)
            return connection, False
        sender.closed(connection)
        self.connection = None
        if sender.others_open(connection):
            logger.warning("delivery.connection_retired", extra={"reply": str(refusal)})
            sender.put_back(claim)
            return None, True
        logger.warning("delivery.connect_failed", extra={"reply": str(refusal)})
        sender.fail_in_hand(claim, refusal)
        return None, False

    async def _prepare(self, claim: Claimed, *, may_wait: bool = True) -> Prepared | _Wait | None:
        """What the throttle says, and the recipient's bytes: a `Prepared`, or None when the
        claim is done with (recorded, deferred, or given back on a stop), or _WAIT when the
        throttle asks for a wait and `may_wait` is false."""
        sender = self.sender
        message = sender.message(claim)
        if isinstance(message, Reply):  # a message that cannot be built
            sender.record(claim, message, slot=False)
            return None
        hold = sender.reserve(claim)
        if hold is not None:
            if not may_wait and hold.until is None:
                return _WAIT
            if (held := await self._hold(claim, hold)) is None:
                return None
            claim = held
        refusal = address_refusal(claim.email)
        if refusal is None:
            try:
                data = message.render(
                    RecipientContext(
                        claim.email, claim.full_name, claim.delivery_id, claim.recipient_id
                    )
                )
            except Exception as exc:  # whatever the content layer refuses
                logger.error(
                    "delivery.message_unbuildable",
                    extra={"delivery_id": claim.delivery_id, "error": str(exc)},
                )
                refusal = Reply(0, f"Not sent: the message cannot be built ({exc})", final=True)
        if refusal is not None:
            sender.record(claim, refusal, slot=False)
            return None
        return claim, message.envelope_sender, data

    async def _prepare_next(self) -> Prepared | None:
        """The next claim, prepared, if one can go at once (nothing to wait for); else None."""
        while (claim := self.sender.next_claim_now()) is not None:
            prepared = await self._prepare(claim, may_wait=False)
            if isinstance(prepared, _Wait):
                self.sender.put_back(claim)  # the throttle says wait: not in this write
                return None
            if prepared is not None:
                return prepared
        return None

    async def _hold(self, claim: Claimed, hold: Hold | None) -> Claimed | None:
        """What the throttle said: wait and ask again, or defer the claim to a later time."""
        sender = self.sender
        while hold is not None:
            if hold.until is not None:
                sender.defer(claim, hold.until)
                return None
            await asyncio.sleep(hold.seconds)
            if sender.stopping:
                sender.give_back(claim)
                return None
            hold = sender.reserve(claim)
        return claim
