"""Every allauth page a person meets is drawn inside the site's own layout, with Bootstrap."""

import re

import pytest
from django.urls import reverse

BOOTSTRAP_CSS = "/static/vendor/bootstrap/bootstrap.min.css"


def assert_in_site_layout(response) -> None:
    assert response.status_code == 200
    names = {t.name for t in response.templates}
    assert {"base.html", "allauth/layouts/base.html", "includes/navbar.html"} <= names
    html = response.content.decode()
    assert BOOTSTRAP_CSS in html
    assert "account-page" in html  # the centred column of allauth/layouts/base.html
    # Every form control is styled; no bare browser-default inputs.
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if 'type="hidden"' in tag:
            continue
        assert re.search(r'class="[^"]*(form-control|form-check-input|form-select)', tag), tag
    assert "<title> · " not in html  # every page has a title of its own


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url_name",
    [
        "account_login",
        "account_signup",
        "account_reset_password",
        "account_reset_password_done",
        "account_email_verification_sent",
        "account_reset_password_from_key_done",
    ],
)
def test_public_account_pages_use_the_site_layout(client, url_name):
    assert_in_site_layout(client.get(reverse(url_name)))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url_name", ["account_email", "account_change_password", "account_logout", "profile"]
)
def test_signed_in_account_pages_use_the_site_layout(user, client_for, url_name):
    response = client_for(user).get(reverse(url_name))

    if url_name == "profile":  # the site's own page: base layout, no allauth layout
        assert response.status_code == 200
        assert "base.html" in {t.name for t in response.templates}
    else:
        assert_in_site_layout(response)


@pytest.mark.django_db
def test_pages_reached_from_mailed_links_use_the_site_layout(client, user, make_user, mailoutbox):
    client.post(reverse("account_reset_password"), {"email": user.email})
    make_user("fresh@example.com", verified=False)
    client.post(reverse("account_login"), {"login": "fresh@example.com", "password": "x"})
    client.post(
        reverse("account_login"),
        {"login": "fresh@example.com", "password": "correct-horse-battery-staple"},
    )
    reset_mail, confirm_mail = mailoutbox
    reset_path = re.search(r"testserver(/accounts/password/reset/key/\S+)", reset_mail.body)[1]
    confirm_path = re.search(r"testserver(/accounts/confirm-email/\S+)", confirm_mail.body)[1]

    assert_in_site_layout(client.get(reset_path, follow=True))
    assert_in_site_layout(client.get(confirm_path))
    # Bad links too.
    assert_in_site_layout(client.get("/accounts/confirm-email/not-a-key/"))
    assert_in_site_layout(client.get("/accounts/password/reset/key/1-not-a-key/", follow=True))
