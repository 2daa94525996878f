"""What a rendered message looks like on the wire, whatever the database holds."""

from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.utils import parsedate_to_datetime

import time_machine

from mailing.content import RecipientContext
from mailing.content.plain import PlainMessage

RENDERED_AT = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def render() -> PlainMessage:
    return PlainMessage(
        subject="Spring news",
        body="Hello.",
        from_email="Campaigns <noreply@example.com>",
        reply_to="owner@example.com",
        run_id=7,
    )


def test_the_date_header_is_the_time_of_sending_not_of_rendering():
    """A run is rendered once; a retry hours later must not carry the first try's date."""
    with time_machine.travel(RENDERED_AT, tick=False):
        message = render()

    with time_machine.travel(RENDERED_AT + timedelta(hours=3, minutes=7), tick=False):
        payload = message.render(RecipientContext("r@example.org", "R", 1, 1))

    sent = message_from_bytes(payload)
    assert sent.get_all("Date") == [sent["Date"]]  # exactly one
    assert parsedate_to_datetime(sent["Date"]) == RENDERED_AT + timedelta(hours=3, minutes=7)
