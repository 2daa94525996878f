"""International addresses: an address the dashboard accepts is deliverable. A domain in
Unicode goes into the envelope in its IDNA form; a part before "@" outside ASCII needs
SMTPUTF8, so it is accepted only when MAILING_SMTPUTF8 says the relay offers it (refused at
entry with the reason otherwise), and then sent with MAIL FROM … SMTPUTF8. Real SMTP server on
loopback; the bytes it received parsed with `email`."""

import pytest
from django.core.exceptions import ValidationError

from mailing import delivery, services
from mailing.forms import RecipientForm
from mailing.models import Attempt, Recipient
from mailing.smtp_sink import SmtpSink

pytestmark = pytest.mark.django_db

PUNYCODE = "xn--e1afmkfd.xn--p1ai"  # пример.рф


@pytest.fixture
def utf8_sink(settings):
    """A server that offers SMTPUTF8, with the engine pointed at it."""
    with SmtpSink(smtputf8=True) as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = sink.host, sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 1
        yield sink


def send_to(owner, make_mailing, email: str) -> Attempt:
    recipient = Recipient.objects.create(owner=owner, email=email, full_name="Иван Петров")
    mailing = make_mailing(owner, recipients=[recipient])
    delivery.start_run(mailing=mailing)
    delivery.deliver(connections=1)
    return Attempt.objects.get(mailing=mailing)


def test_a_unicode_domain_is_accepted_at_entry(user):
    assert RecipientForm(data={"email": "ivan@пример.рф", "full_name": "Ivan"}).is_valid()
    recipient = services.recipient_create(owner=user, email="ivan@пример.рф", full_name="Ivan")
    assert recipient.email == "ivan@пример.рф"


def test_a_unicode_domain_is_sent_in_its_idna_form(user, make_mailing, smtp_sink):
    attempt = send_to(user, make_mailing, "ivan@пример.рф")

    assert attempt.status == Attempt.Status.SUCCESS, attempt.server_response
    [received] = smtp_sink.received
    assert received.rcpt_to == f"ivan@{PUNYCODE}"
    assert "SMTPUTF8" not in received.mail_options
    assert received.message["To"].endswith(f"<ivan@{PUNYCODE}>")


@pytest.mark.parametrize("email", ["иван@example.org", "ivan.петров@пример.рф"])
def test_a_local_part_needing_smtputf8_is_refused_at_entry_with_the_reason(user, email):
    form = RecipientForm(data={"email": email, "full_name": "Ivan"})
    assert not form.is_valid()
    assert "SMTPUTF8" in form.errors["email"][0]

    with pytest.raises(ValidationError) as refused:
        services.recipient_create(owner=user, email=email, full_name="Ivan")
    assert "SMTPUTF8" in refused.value.message_dict["email"][0]
    assert not Recipient.objects.filter(owner=user).exists()


def test_a_domain_without_an_idna_form_is_refused_at_entry(user):
    with pytest.raises(ValidationError) as refused:
        services.recipient_create(owner=user, email="ivan@" + "я" * 70 + ".рф", full_name="I")
    assert "IDNA" in refused.value.message_dict["email"][0]


def test_with_smtputf8_on_such_an_address_is_accepted_and_sent_with_smtputf8(
    user, make_mailing, settings, utf8_sink
):
    settings.MAILING_SMTPUTF8 = True
    assert RecipientForm(data={"email": "иван@пример.рф", "full_name": "Иван"}).is_valid()
    services.recipient_create(owner=user, email="иван@example.org", full_name="Иван")

    attempt = send_to(user, make_mailing, "иван@пример.рф")

    assert attempt.status == Attempt.Status.SUCCESS, attempt.server_response
    [received] = utf8_sink.received
    assert received.rcpt_to == f"иван@{PUNYCODE}"
    assert "SMTPUTF8" in received.mail_options


def test_with_smtputf8_on_but_a_server_that_does_not_offer_it_the_attempt_says_why(
    user, make_mailing, settings, smtp_sink
):
    settings.MAILING_SMTPUTF8 = True

    attempt = send_to(user, make_mailing, "иван@example.org")

    assert attempt.status == Attempt.Status.FAILURE
    assert "does not offer SMTPUTF8" in attempt.server_response
    assert smtp_sink.received == []
