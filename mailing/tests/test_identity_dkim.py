"""Sender identity, one-click unsubscribe headers and DKIM: the bytes a run's message becomes,
and a signature dkimpy verifies against the public key."""

import base64
import time
from email import message_from_bytes
from email.policy import default

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailing.content import RecipientContext
from mailing.content.dkim import Signer
from mailing.content.identity import Envelope
from mailing.content.plain import PlainMessage
from mailing.unsubscribe import read_token

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
PUBLIC = base64.b64encode(
    KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
)


def dns(name: bytes, timeout: int = 5) -> bytes:
    assert name == b"mail2027._domainkey.example.com."
    return b"v=DKIM1; k=rsa; p=" + PUBLIC


def message(*, signed: bool, settings, reply_to: str = "owner@example.org") -> PlainMessage:
    settings.DEFAULT_FROM_EMAIL = "Campaigns <noreply@example.com>"
    signer = Signer(domain="example.com", selector="mail2027", private_key=PEM) if signed else None
    envelope = Envelope(
        owner_id=42, owner_name="Алиса Ким", reply_to=reply_to, run_id=7, signer=signer
    )
    body = "Привет!\n.dot line   with  spaces   \n\n\n"
    return PlainMessage(subject="Весенние новости", body=body, envelope=envelope)


def wire_to_message(data: bytes) -> bytes:
    """What the receiving server stores: dots unstuffed."""
    return data.replace(b"\r\n..", b"\r\n.")


RECIPIENT = RecipientContext("anna@example.org", "Anna Smith", 11, 3)


def test_identity_and_one_click_headers_on_every_message(settings):
    data = wire_to_message(message(signed=False, settings=settings).render(RECIPIENT))
    parsed = message_from_bytes(data, policy=default)

    assert str(parsed["From"]) == "Алиса Ким <noreply@example.com>"
    assert parsed["Reply-To"] == "owner@example.org"
    assert parsed["Message-ID"] == "<mailing.7.11@example.com>"
    url = parsed["List-Unsubscribe"].strip("<>")
    assert url.startswith("http://testserver/u/") and url.endswith("/")
    assert read_token(url.rsplit("/", 2)[1]) == (42, "anna@example.org")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = parsed.get_content().replace("\r\n", "\n")
    assert body.startswith("Привет!\n.dot line")
    assert url in body  # the visible link too
    assert "DKIM-Signature" not in parsed


def test_a_mailto_form_when_a_mailbox_is_configured(settings):
    settings.MAILING_UNSUBSCRIBE_MAILBOX = "leave@example.com"
    data = message(signed=False, settings=settings).render(RECIPIENT)
    header = message_from_bytes(data, policy=default)["List-Unsubscribe"]
    assert header.startswith("<http://testserver/u/")
    assert header.endswith(", <mailto:leave@example.com?subject=unsubscribe>")


def test_the_signature_verifies_with_dkimpy_and_covers_the_unsubscribe_headers(settings):
    data = wire_to_message(message(signed=True, settings=settings).render(RECIPIENT))

    assert dkim.verify(data, dnsfunc=dns)
    parsed = message_from_bytes(data)
    tags = dict(
        tag.strip().split("=", 1) for tag in "".join(parsed["DKIM-Signature"].split()).split(";")
    )
    assert (tags["a"], tags["c"], tags["d"], tags["s"]) == (
        "rsa-sha256",
        "relaxed/relaxed",
        "example.com",
        "mail2027",
    )
    signed = set(tags["h"].split(":"))
    assert {"from", "to", "subject", "date", "message-id"} <= signed
    assert {"list-unsubscribe", "list-unsubscribe-post"} <= signed


@pytest.mark.parametrize(
    "change",
    [
        (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: x"),
        (b"Subject: ", b"Subject: Re: "),
        (b"To: Anna Smith", b"To: Eve Smith"),
        (b"dot line", b"dot lime"),
    ],
)
def test_the_signature_fails_after_a_header_or_the_body_is_altered(settings, change):
    data = wire_to_message(message(signed=True, settings=settings).render(RECIPIENT))
    old, new = change
    assert old in data
    assert not dkim.verify(data.replace(old, new, 1), dnsfunc=dns)


def test_a_long_subject_and_name_folded_over_lines_are_signed_whole(settings):
    settings.DEFAULT_FROM_EMAIL = "Campaigns <noreply@example.com>"
    signer = Signer(domain="example.com", selector="mail2027", private_key=PEM)
    envelope = Envelope(
        owner_id=1,
        owner_name="Очень Длинное Имя Владельца " * 3,
        reply_to="",
        run_id=1,
        signer=signer,
    )
    prepared = PlainMessage(
        subject="Весенние новости и планы на лето " * 4, body="Hi", envelope=envelope
    )
    recipient = RecipientContext("r@example.org", "Получатель из длинного списка " * 3, 1, 1)
    data = wire_to_message(prepared.render(recipient))
    assert b"\r\n =?utf-8?" in data  # folded
    assert dkim.verify(data, dnsfunc=dns)


def test_every_recipient_gets_a_signature_of_their_own(settings):
    prepared = message(signed=True, settings=settings)
    for index in range(5):
        recipient = RecipientContext(f"r{index}@example.org", "", 100 + index, index)
        assert dkim.verify(wire_to_message(prepared.render(recipient)), dnsfunc=dns)


def test_signing_costs_a_fraction_of_what_dkimpy_takes(settings):
    """What signing adds to rendering, per message: ~0.6 ms on a quiet machine (README);
    the bound is loose for a busy one, and still below dkimpy's ~10-14 ms."""
    plain, signed = (
        message(signed=False, settings=settings),
        message(signed=True, settings=settings),
    )
    timings = {}
    for name, prepared in (("plain", plain), ("signed", signed)):
        start = time.perf_counter()
        for index in range(200):
            prepared.render(RecipientContext(f"r{index}@example.org", "R", index, index))
        timings[name] = (time.perf_counter() - start) / 200
    assert timings["signed"] - timings["plain"] < 0.008, timings


@pytest.mark.django_db
def test_a_mailings_reply_to_wins_over_the_owners(user, make_mailing, settings):
    from mailing import delivery
    from mailing.content import prepare
    from mailing.models import Run

    settings.DEFAULT_FROM_EMAIL = "Campaigns <noreply@example.com>"
    user.first_name, user.last_name = "Alice", "Smith"
    user.save()
    mailing = make_mailing(user, recipients=1)
    mailing.reply_to = "press@example.org"
    mailing.save()
    run = delivery.start_run(mailing=mailing)
    run = Run.objects.select_related("mailing__message", "mailing__owner").get(pk=run.pk)

    data = prepare(run).render(RecipientContext("r@example.org", "R", 1, 1))

    parsed = message_from_bytes(data, policy=default)
    assert parsed["Reply-To"] == "press@example.org"
    assert str(parsed["From"]) == "Alice Smith <noreply@example.com>"


@pytest.mark.django_db
def test_the_mailing_form_validates_the_reply_to(user, make_mailing, client_for):
    from django.urls import reverse

    mailing = make_mailing(user, recipients=1)
    client = client_for(user)
    url = reverse("mailing:mailing_update", args=[mailing.pk])
    form = client.get(url).context["form"]
    data = {
        "message": mailing.message_id,
        "recipients": [r.pk for r in mailing.recipients.all()],
        "first_send_at": form.initial["first_send_at"].strftime("%Y-%m-%dT%H:%M"),
        "end_at": form.initial["end_at"].strftime("%Y-%m-%dT%H:%M"),
        "periodicity": "once",
    }

    refused = client.post(url, {**data, "reply_to": "not an address\r\nBcc: x@example.org"})
    assert refused.status_code == 200 and refused.context["form"].errors["reply_to"]
    client.post(url, {**data, "reply_to": "press@example.org"})
    mailing.refresh_from_db()
    assert mailing.reply_to == "press@example.org"
