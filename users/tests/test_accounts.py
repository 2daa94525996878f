"""Email-only accounts through allauth's real pages: sign-up, verification, sign-in, password
reset, email change, and what happens when the mail server is down."""

import logging
import re
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse

from conftest import PASSWORD
from mailing.smtp_sink import free_port
from users.models import User

NEW_PASSWORD = "a-much-longer-new-secret-42"


def link_in(message: mail.EmailMessage, path_start: str) -> str:
    """The path of the first link in the mail's body that starts with `path_start`."""
    match = re.search(rf"https?://testserver({re.escape(path_start)}\S*)", str(message.body))
    assert match, f"no {path_start} link in:\n{message.body}"
    return match.group(1)


def flash(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def sign_in(client: Client, email: str, password: str):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def sign_up(client: Client, email: str, password: str = PASSWORD):
    return client.post(
        reverse("account_signup"), {"email": email, "password1": password, "password2": password}
    )


@pytest.mark.django_db
def test_sign_up_then_confirm_from_the_email_link_then_sign_in(client, mailoutbox):
    response = sign_up(client, "Carol@Example.com")

    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert not is_signed_in(client)
    [verification] = mailoutbox
    assert verification.to == ["carol@example.com"]  # allauth stores addresses lower-cased
    assert "Confirm" in verification.subject
    confirm_path = link_in(verification, "/accounts/confirm-email/")

    # Opening the link only shows a button: a mail scanner's GET must not confirm anything.
    page = client.get(confirm_path)
    assert page.status_code == 200
    assert "carol@example.com" in page.content.decode()
    assert not EmailAddress.objects.get(email="carol@example.com").verified

    confirmed = client.post(confirm_path)

    assert confirmed.status_code == 302
    assert confirmed["Location"] == reverse("account_login")
    assert EmailAddress.objects.get(email="carol@example.com").verified
    signed_in = sign_in(client, "Carol@example.com", PASSWORD)
    assert signed_in.status_code == 302
    assert signed_in["Location"] == reverse("mailing:dashboard")
    assert is_signed_in(client)
    assert client.get(reverse("mailing:dashboard")).status_code == 200


@pytest.mark.django_db
def test_sign_in_with_an_unverified_address_is_refused_and_says_why(client, make_user, mailoutbox):
    make_user("dave@example.com", verified=False)

    response = client.post(
        reverse("account_login"),
        {"login": "dave@example.com", "password": PASSWORD},
        follow=True,
    )

    assert not is_signed_in(client)
    assert response.redirect_chain[-1][0] == reverse("account_email_verification_sent")
    text = response.content.decode()
    assert "confirm your email address before you can sign in" in text
    # A fresh link goes out, so the explanation is actionable.
    assert [m.to for m in mailoutbox] == [["dave@example.com"]]
    assert "/accounts/confirm-email/" in mailoutbox[0].body


@pytest.mark.django_db
def test_password_reset_end_to_end(client, user, mailoutbox):
    page = client.get(reverse("account_reset_password"))
    assert page.status_code == 200

    requested = client.post(reverse("account_reset_password"), {"email": "ALICE@example.com"})

    assert requested.status_code == 302
    assert requested["Location"] == reverse("account_reset_password_done")
    [reset_mail] = mailoutbox
    assert reset_mail.to == ["alice@example.com"]
    key_path = link_in(reset_mail, "/accounts/password/reset/key/")

    # allauth moves the key into the session and redirects to a key-less URL.
    form_page = client.get(key_path, follow=True)
    assert form_page.status_code == 200
    assert "password1" in form_page.content.decode()
    set_path = form_page.redirect_chain[-1][0]
    done = client.post(set_path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert done["Location"] == reverse("account_reset_password_from_key_done")

    assert sign_in(Client(), "alice@example.com", PASSWORD).status_code == 200  # form again
    fresh = Client()
    assert sign_in(fresh, "alice@example.com", NEW_PASSWORD).status_code == 302
    assert is_signed_in(fresh)
    # The link is single-use.
    assert "password1" not in Client().get(key_path, follow=True).content.decode()


@pytest.mark.django_db
def test_password_reset_answers_alike_for_an_address_with_and_without_an_account(user, mailoutbox):
    def ask(email: str) -> tuple[int, str, str]:
        client = Client()
        requested = client.post(reverse("account_reset_password"), {"email": email})
        page = client.get(requested["Location"])
        return requested.status_code, requested["Location"], page.content.decode()

    known = ask("alice@example.com")
    unknown = ask("nobody@example.com")

    assert known == unknown  # the same redirect, to the same page, with the same text
    assert known[0] == 302
    assert known[1] == reverse("account_reset_password_done")
    # Each address got a mail; only the account's owner got a reset link.
    reset_mail, unknown_mail = mailoutbox
    assert (reset_mail.to, unknown_mail.to) == (["alice@example.com"], ["nobody@example.com"])
    assert "/accounts/password/reset/key/" in reset_mail.body
    assert "/accounts/password/reset/key/" not in unknown_mail.body
    assert reverse("account_signup") in unknown_mail.body


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["alice@example.com", "Alice@EXAMPLE.com"])
def test_sign_up_with_a_taken_address_shows_the_error_next_to_the_email_field(
    client, user, mailoutbox, email
):
    response = sign_up(client, email)

    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.errors) == ["email"]
    html = response.content.decode()
    error = form.errors["email"][0]
    # Rendered inside the email field's block: after its input, before the next field.
    assert html.index('name="email"') < html.index(error) < html.index('name="password1"')
    [email_input] = re.findall(r'<input[^>]*name="email"[^>]*>', html)
    assert "is-invalid" in email_input
    assert 'aria-describedby="id_email_error"' in email_input
    assert re.search(r'id="id_email_error"[^>]*>\s*<div>' + re.escape(error), html)
    assert User.objects.count() == 1
    assert mailoutbox == []


@pytest.mark.django_db
def test_changing_the_email_address_sends_a_verification_mail_to_the_new_address(
    user, client_for, mailoutbox
):
    client = client_for(user)
    page = client.get(reverse("account_email"))
    assert page.status_code == 200

    response = client.post(
        reverse("account_email"), {"email": "alice.new@example.com", "action_add": ""}
    )

    assert response.status_code == 302
    [verification] = mailoutbox
    assert verification.to == ["alice.new@example.com"]
    user.refresh_from_db()
    assert user.email == "alice@example.com"  # nothing changes until the new one is confirmed
    assert "alice.new@example.com" in client.get(reverse("account_email")).content.decode()

    confirm_path = link_in(verification, "/accounts/confirm-email/")
    assert client.post(confirm_path).status_code == 302
    user.refresh_from_db()
    assert user.email == "alice.new@example.com"
    assert list(EmailAddress.objects.filter(user=user).values_list("email", flat=True)) == [
        "alice.new@example.com"
    ]
    # ACCOUNT_EMAIL_NOTIFICATIONS: the old address hears about the change.
    assert ["alice@example.com"] in [m.to for m in mailoutbox[1:]]


@pytest.mark.django_db
def test_changing_to_an_address_of_another_account_is_refused(
    user, other_user, client_for, mailoutbox
):
    response = client_for(user).post(
        reverse("account_email"), {"email": "BOB@example.com", "action_add": ""}
    )

    assert response.status_code == 200
    [error] = response.context["form"].errors["email"]
    html = response.content.decode()
    assert re.search(r'id="id_email_error"[^>]*>\s*<div>' + re.escape(error), html)
    assert not EmailAddress.objects.filter(user=user, email__iexact="bob@example.com").exists()
    assert mailoutbox == []


@pytest.mark.django_db
def test_changing_the_password_keeps_you_signed_in_and_tells_you_by_mail(
    user, client_for, mailoutbox
):
    client = client_for(user)

    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert is_signed_in(client)
    assert sign_in(Client(), user.email, NEW_PASSWORD).status_code == 302
    assert [m.to for m in mailoutbox] == [[user.email]]
    assert "password" in mailoutbox[0].subject.lower()


@pytest.mark.django_db
def test_signing_out(user, client_for):
    client = client_for(user)

    response = client.post(reverse("account_logout"))

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert not is_signed_in(client)


# --- Mail server down ------------------------------------------------------------------------


@pytest.fixture
def mail_server_down(settings) -> int:
    """Django's SMTP backend pointed at a loopback port nobody listens on."""
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 2
    return port


def mail_failures(caplog) -> list[Any]:  # records with the event's fields
    return [r for r in caplog.records if r.getMessage() == "account.mail_failed"]


@pytest.mark.django_db
def test_sign_up_while_the_mail_server_is_down_shows_an_error_instead_of_crashing(
    client, mail_server_down, caplog
):
    with caplog.at_level(logging.ERROR, logger="users.adapter"):
        response = client.post(
            reverse("account_signup"),
            {"email": "erin@example.com", "password1": PASSWORD, "password2": PASSWORD},
            follow=True,
        )

    assert response.status_code == 200
    messages = flash(response)
    assert any("could not send" in m for m in messages), messages
    assert not any(m.startswith("Confirmation email sent") for m in messages), messages
    html = response.content.decode()
    assert 'class="alert alert-danger' in html
    assert "We have sent you an email" not in html  # the page does not contradict the alert
    [record] = mail_failures(caplog)
    assert record.levelno == logging.ERROR
    assert record.email == "erin@example.com"
    assert record.template == "account/email/email_confirmation_signup"
    assert "Connection refused" in record.error or "refused" in record.error.lower()
    # The account exists; signing in later sends a new link.
    assert User.objects.filter(email="erin@example.com").exists()


@pytest.mark.django_db
def test_password_reset_while_the_mail_server_is_down_shows_an_error_instead_of_crashing(
    client, user, mail_server_down, caplog
):
    with caplog.at_level(logging.ERROR, logger="users.adapter"):
        response = client.post(
            reverse("account_reset_password"), {"email": "alice@example.com"}, follow=True
        )

    assert response.status_code == 200
    assert any("could not send" in m for m in flash(response))
    html = response.content.decode()
    assert 'class="alert alert-danger' in html
    assert "We have sent you an email" not in html
    assert reverse("account_reset_password") in html  # a way to try again
    [record] = mail_failures(caplog)
    assert record.email == "alice@example.com"
    assert record.template == "account/email/password_reset_key"
