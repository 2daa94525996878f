"""The content boundary: a run's message prepared once, rendered per recipient as the bytes
SMTP's DATA carries."""

from email import message_from_bytes
from email.header import decode_header, make_header
from email.policy import default

from mailing.content import RecipientContext, dot_stuff
from mailing.content.plain import PlainMessage


def prepared() -> PlainMessage:
    return PlainMessage(
        subject="Весенние новости",
        body=".a line that starts with a dot\nand another.\n",
        from_email="Campaigns <noreply@example.com>",
        reply_to="owner@example.com",
        run_id=7,
    )


def parse(data: bytes):
    """What a receiving server makes of the DATA bytes: dots unstuffed, then parsed."""
    return message_from_bytes(data.replace(b"\r\n..", b"\r\n."), policy=default)


def test_each_recipient_gets_their_own_headers_around_the_same_message():
    message = prepared()

    anna = message.render(RecipientContext("anna@example.org", "Анна Петрова", 11, 1))
    bob = message.render(RecipientContext("bob@example.org", "Bob", 12, 2))

    first, second = parse(anna), parse(bob)
    assert str(make_header(decode_header(first["To"]))) == "Анна Петрова <anna@example.org>"
    assert second["To"] == "Bob <bob@example.org>"
    # Fixed per delivery, so a re-sent message can be recognised as the same one.
    assert (first["Message-ID"], second["Message-ID"]) == (
        "<mailing.7.11@example.com>",
        "<mailing.7.12@example.com>",
    )
    assert first["Subject"] == second["Subject"] == "Весенние новости"
    assert first["Reply-To"] == "owner@example.com"
    assert (
        first.get_content()
        .replace("\r\n", "\n")
        .startswith(".a line that starts with a dot\nand another.\n\n-- \n")
    )
    assert message.envelope_sender == "noreply@example.com"


def test_the_bytes_are_in_smtps_data_form():
    data = prepared().render(RecipientContext("anna@example.org", "Anna", 11, 1))

    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")  # every line ends in CRLF
    # A line that starts with "." is sent as "..", or the server would read "." as the end.
    lines = data.split(b"\r\n")
    assert not any(line.startswith(b".") and not line.startswith(b"..") for line in lines)


def test_dot_stuffing_normalises_line_ends_and_doubles_leading_dots():
    assert dot_stuff(b".\nmiddle\r.x\r\n..y") == b"..\r\nmiddle\r\n..x\r\n...y\r\n"
    assert dot_stuff(b"done\r\n") == b"done\r\n"
