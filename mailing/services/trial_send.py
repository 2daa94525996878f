""" "Send me a test": one message to its owner's own address, before any recipient gets it.

The test goes through the same content pipeline (`mailing.content.prepare_message`) and the
same transport (`mailing.transport`: SMTP as the senders speak it, or the configured Django
backend) as a run's deliveries, so what arrives is what recipients would get, personalised for
the owner, its subject marked as a test. It is not a run: no run, delivery, attempt or daily
total is written, and nothing else is mailed.

On a digest mailing's page the test lists the posts its next occurrence would send.

Sends are limited per user (`TEST_SEND_LIMIT` in `TEST_SEND_WINDOW_SECONDS`, counted in the
cache), so the button cannot be turned into a way of mailing one address over and over.
"""

import asyncio
import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext

from core.refusals import ActionRefused
from core.roles import ensure_can_write
from users.models import User

from ..content import RecipientContext, prepare_message
from ..content.dkim import configured_signer
from ..content.identity import Envelope
from ..digests import pending_markdown
from ..models import Mailing, Message
from ..transport import DjangoBackendConnection, Reply, SmtpConnection, uses_smtp

logger = logging.getLogger("mailing.services")

TEST_SEND_LIMIT = 5
TEST_SEND_WINDOW_SECONDS = 600


def send_test(*, user: User, message: Message, mailing: Mailing | None = None) -> str:
    """Send `message` (of `mailing`, when the test is asked for on a mailing's page) to
    `user`'s own address, marked as a test. Returns the address it went to.

    Raises PermissionDenied when `user` may not write the message (managers read-only), and
    `ActionRefused` when the limit is reached or the server refused the message."""
    ensure_can_write(user, message)
    if mailing is not None:
        ensure_can_write(user, mailing)
    _count_against_limit(user)
    suffix = ""
    if mailing is not None and mailing.content == Mailing.Content.NEW_POSTS:
        # The digest its next occurrence would send, as things stand.
        suffix = pending_markdown(mailing, now=timezone.now())
    envelope = Envelope(
        owner_id=user.pk,
        owner_name=user.get_full_name(),
        reply_to=(getattr(mailing, "reply_to", "") if mailing else "") or user.email,
        run_id=0,
        signer=configured_signer(),
    )
    prepared = prepare_message(
        message=message,
        envelope=envelope,
        subject_prefix=gettext("[Test] "),
        body_suffix=suffix,
    )
    recipient = RecipientContext(
        email=user.email,
        full_name=user.get_full_name(),
        # A Message-ID of its own: no run's delivery has it.
        delivery_id=secrets.randbelow(2**31),
        recipient_id=0,
    )
    reply = asyncio.run(_deliver(prepared.envelope_sender, user.email, prepared.render(recipient)))
    logger.info(
        "message.test_sent",
        extra={
            "object_id": message.pk,
            "mailing_id": mailing.pk if mailing else None,
            "user_id": user.pk,
            "reply": str(reply),
        },
    )
    if not 200 <= reply.code < 300:
        raise ActionRefused(
            gettext("The test could not be sent: %(reply)s") % {"reply": str(reply)}
        )
    return user.email


def _count_against_limit(user: User) -> None:
    key = f"mailing:test-sends:{user.pk}"
    cache.add(key, 0, TEST_SEND_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, TEST_SEND_WINDOW_SECONDS)
        count = 1
    if count > TEST_SEND_LIMIT:
        raise ActionRefused(
            gettext(
                "You have sent %(limit)d tests in the last %(minutes)d minutes; "
                "try again a little later."
            )
            % {"limit": TEST_SEND_LIMIT, "minutes": TEST_SEND_WINDOW_SECONDS // 60}
        )


async def _deliver(sender: str, recipient: str, data: bytes) -> Reply:
    connection = SmtpConnection() if uses_smtp() else DjangoBackendConnection()
    # No sender's watchdog here to enforce the connection's read deadlines: one bound for all.
    limit = max(5.0, float(settings.EMAIL_TIMEOUT or 10) * 3)
    try:
        return await asyncio.wait_for(_steps(connection, sender, recipient, data), limit)
    except TimeoutError:
        connection.abandon()
        return Reply(0, gettext("The mail server did not answer in time."))


async def _steps(connection, sender: str, recipient: str, data: bytes) -> Reply:
    refusal = await connection.open()
    if refusal is not None:
        return refusal
    try:
        refusal = await connection.begin(sender, recipient)
        if refusal is not None:
            return refusal
        return await connection.commit(data)
    finally:
        await connection.close()
