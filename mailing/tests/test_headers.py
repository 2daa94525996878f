"""Header lines of campaign mail: folded, encoded, never longer than 998 octets, never split
into two headers by what someone typed."""

from email import message_from_bytes
from email.header import decode_header, make_header
from email.policy import compat32, default
from email.utils import parseaddr

import pytest

from mailing.content.headers import address_header, idna_address, text_header

LONG_RUSSIAN = ("Здравствуйте, дорогие клиенты нашего маленького магазина! " * 5)[:255]
LONG_NAME = ("Александра-Мария Константинопольская " * 6)[:200]


def parse(head: bytes):
    return message_from_bytes(head + b"\r\nbody\r\n", policy=default)


def to_as_a_mail_client_reads_it(head: bytes) -> tuple[str, str]:
    """(display name, address) as RFC 2047 decodes them: white space between two encoded words
    is dropped. (The email package's modern parser keeps it inside a name, which no mail
    client does.)"""
    raw = message_from_bytes(head + b"\r\nbody\r\n", policy=compat32)["To"]
    return parseaddr(str(make_header(decode_header(raw))))


def physical_lines(head: bytes) -> list[bytes]:
    return head.rstrip(b"\r\n").split(b"\r\n")


@pytest.mark.parametrize(
    "subject",
    [
        "Hello",
        "Spring sale: 20% off everything in the shop until the end of the month, for all",
        LONG_RUSSIAN,
        "Mixed: скидки 20% — только до пятницы " * 6,
        "x" * 255,
        "🎉" * 100,
    ],
)
def test_a_subject_reads_back_as_written_on_lines_within_the_limits(subject):
    head = text_header("Subject", subject)

    assert parse(head)["Subject"] == subject
    lines = physical_lines(head)
    assert all(len(line) <= 998 for line in lines)
    assert all(line.startswith((b" ", b"Subject:")) for line in lines)
    assert all(len(line) <= 78 for line in lines), lines


def test_a_line_break_in_a_subject_cannot_start_a_header_of_its_own():
    head = text_header("Subject", "Hi\r\nBcc: everyone@example.org\r\n\r\nfake body")

    message = parse(head)
    assert message["Bcc"] is None
    assert message["Subject"] == "Hi  Bcc: everyone@example.org    fake body"
    assert len(physical_lines(head)) == 1


@pytest.mark.parametrize(
    ("name", "email"),
    [
        ("Alice Smith", "alice@example.org"),
        ("", "alice@example.org"),
        ("Smith, Alice (Sales)", "alice@example.org"),
        ('Say "hi" \\ bye', "alice@example.org"),
        (LONG_NAME, "alexandra.maria@example.org"),
        ("Ольга", "olga@example.org"),
        ("A" * 200, "a@example.org"),
    ],
)
def test_an_address_header_reads_back_with_its_name_and_address(name, email):
    head = address_header("To", email=email, display_name=name)

    assert parse(head)["To"].addresses[0].addr_spec == email
    assert to_as_a_mail_client_reads_it(head) == (name, email)
    lines = physical_lines(head)
    assert all(len(line) <= 998 for line in lines)
    assert all(len(line) <= 78 for line in lines if not line.endswith(b">")), lines


def test_a_name_cannot_smuggle_a_second_recipient_or_header():
    head = address_header("To", email="a@example.org", display_name="Eve\r\nBcc: x@example.org")

    message = parse(head)
    assert message["Bcc"] is None
    assert [a.addr_spec for a in message["To"].addresses] == ["a@example.org"]


def test_a_unicode_domain_goes_out_in_its_idna_form():
    assert idna_address("olga@пример.рф") == "olga@xn--e1afmkfd.xn--p1ai"
    assert idna_address("olga@example.org") == "olga@example.org"
    head = address_header("To", email="olga@пример.рф", display_name="Ольга")
    assert b"xn--e1afmkfd.xn--p1ai" in head
    assert head.isascii()
