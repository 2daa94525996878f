"""Russian and English: the language comes from the user's choice (the navbar's switcher,
remembered in their profile), then the browser, then LANGUAGE_CODE; the user's time zone is
used for every time shown and entered; the Wagtail admin follows both."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.sites.models import Site
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from wagtail.users.models import UserProfile

from conftest import PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db


def html_lang(response) -> str:
    return re.search(r'<html lang="([^"]+)"', response.content.decode())[1]


def sign_in(client: Client, email: str) -> None:
    response = client.post(reverse("account_login"), {"login": email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:300]


def switch_language(client: Client, language: str, next_url: str = "/") -> Any:
    """What the navbar's switcher does: fetch a CSRF token, POST it with the language."""
    token = client.get(reverse("csrf_token")).json()["token"]
    return client.post(
        reverse("set_language"),
        {"language": language, "next": next_url, "csrfmiddlewaretoken": token},
    )


def test_a_russian_browser_gets_russian_pages_with_html_lang_ru(client):
    for url in ("/", reverse("account_login")):
        response = client.get(url, headers={"accept-language": "ru-RU,ru;q=0.9,en;q=0.8"})

        assert response.status_code == 200
        assert html_lang(response) == "ru"
        html = response.content.decode()
        assert "Войти" in html  # the navbar's "Sign in"
        assert ">Sign in<" not in html
        assert response["Content-Language"] == "ru"


def test_an_english_browser_gets_english_and_a_new_install_speaks_russian(client, settings):
    english = client.get(reverse("account_login"), headers={"accept-language": "en-GB,en"})
    assert html_lang(english) == "en"
    assert "Войти" not in english.content.decode()

    settings.LANGUAGE_CODE = "ru"  # the default when LANGUAGE_CODE is not set
    assert html_lang(Client().get(reverse("account_login"))) == "ru"


def test_the_switcher_changes_the_language_of_the_next_pages():
    client = Client(enforce_csrf_checks=True)
    assert html_lang(client.get("/")) == "en"

    switched = switch_language(client, "ru", next_url="/blog/")

    assert switched.status_code == 302
    assert switched["Location"] == "/blog/"
    assert html_lang(client.get("/")) == "ru"
    # Without its CSRF token the switcher's post is refused.
    assert (
        Client(enforce_csrf_checks=True)
        .post(reverse("set_language"), {"language": "ru"})
        .status_code
        == 403
    )


def test_a_signed_in_users_language_is_remembered_across_sign_out_and_sign_in(make_user):
    user = make_user("alice@example.com")
    browser = Client(enforce_csrf_checks=False)
    sign_in(browser, user.email)

    switch_language(browser, "ru")
    user.refresh_from_db()
    assert user.language == "ru"

    browser.post(reverse("account_logout"))
    assert html_lang(browser.get("/")) == "ru"  # this browser keeps it after signing out

    elsewhere = Client()  # another browser, asking for English
    sign_in(elsewhere, user.email)
    page = elsewhere.get(reverse("mailing:dashboard"), headers={"accept-language": "en"})
    assert html_lang(page) == "ru"
    assert "Выйти" in page.content.decode()  # the navbar's "Sign out"


def test_the_profile_sets_language_and_time_zone_and_wagtails_admin_follows(make_user, client_for):
    user = make_user("editor@example.com", is_superuser=True, is_staff=True)
    client = client_for(user)

    saved = client.post(
        reverse("profile"),
        {"first_name": "Eli", "language": "ru", "time_zone": "Asia/Yekaterinburg"},
    )

    assert saved.status_code == 302
    user.refresh_from_db()
    assert (user.language, user.time_zone) == ("ru", "Asia/Yekaterinburg")
    profile = UserProfile.objects.get(user=user)
    assert (profile.preferred_language, profile.current_time_zone) == (
        "ru",
        "Asia/Yekaterinburg",
    )
    admin = client.get("/admin/", headers={"accept-language": "en"})
    assert admin.status_code == 200
    assert html_lang(admin) == "ru"

    # A choice made on Wagtail's own account page becomes the user's, for the whole site.
    profile.preferred_language = "en"
    profile.current_time_zone = "Europe/Berlin"
    profile.save()
    user.refresh_from_db()
    assert (user.language, user.time_zone) == ("en", "Europe/Berlin")
    assert html_lang(client.get(reverse("mailing:dashboard"))) == "en"


def test_a_time_zone_outside_the_list_is_refused_next_to_the_field(make_user, client_for):
    user = make_user("alice@example.com")

    refused = client_for(user).post(reverse("profile"), {"time_zone": "Mars/Olympus_Mons"})

    assert refused.status_code == 200
    assert "time_zone" in refused.context["form"].errors
    user.refresh_from_db()
    assert user.time_zone == "UTC"


def test_times_are_shown_and_entered_in_the_users_time_zone(make_user, make_mailing, client_for):
    user = make_user("alice@example.com", time_zone="Europe/Moscow")  # UTC+3, no DST
    first = timezone.now() + timedelta(days=30)
    first = first.replace(hour=9, minute=0, second=0, microsecond=0)
    mailing = make_mailing(
        user, first_send_at=first, end_at=first + timedelta(days=30), periodicity="daily"
    )
    client = client_for(user)

    page = client.get(reverse("mailing:mailing_detail", args=[mailing.pk])).content.decode()
    assert first.strftime("%Y-%m-%d") + " 12:00" in page  # 09:00 UTC is 12:00 in Moscow
    assert "Europe/Moscow" in page  # said next to the schedule form's time input

    send_at = first + timedelta(days=1)
    scheduled = client.post(
        reverse("mailing:mailing_schedule", args=[mailing.pk]),
        {"send_at": send_at.strftime("%Y-%m-%dT") + "15:30"},  # 15:30 in Moscow
    )

    assert scheduled.status_code == 302
    mailing.refresh_from_db()
    assert mailing.next_send_at == send_at.replace(hour=12, minute=30).astimezone(UTC)


def test_the_time_zone_note_stands_under_the_mailing_forms_time_inputs(make_user, client_for):
    user = make_user("alice@example.com", time_zone="America/New_York")

    page = client_for(user).get(reverse("mailing:mailing_create")).content.decode()

    assert page.count('data-testid="time-zone-note"') == 2  # first send, end
    assert "America/New_York" in page


def test_account_mails_carry_the_sites_name_not_the_request_host(make_user, mailoutbox, settings):
    user = make_user("alice@example.com")
    site = Site.objects.get_current()
    assert (site.name, site.domain) == (settings.SITE_NAME, "testserver")

    Client().post(reverse("account_reset_password"), {"email": user.email})

    [mail] = mailoutbox
    assert mail.subject.startswith(f"[{settings.SITE_NAME}] ")
    assert f"Hello from {settings.SITE_NAME}!" in mail.body


def test_a_russian_account_mail(make_user, mailoutbox):
    user = make_user("alice@example.com")

    Client().post(
        reverse("account_reset_password"), {"email": user.email}, headers={"accept-language": "ru"}
    )

    [mail] = mailoutbox
    assert "Campaigns" in mail.body
    assert "пароль" in mail.body.lower()  # allauth's Russian reset mail


def test_a_new_user_starts_in_the_sites_time_zone(settings):
    settings.TIME_ZONE = "Europe/Moscow"

    user = User.objects.create_user(email="new@example.com", password=PASSWORD)

    assert user.time_zone == "Europe/Moscow"
    assert user.language == ""


def test_pages_in_russian_write_dates_the_russian_way(make_user, client_for):
    user = make_user("alice@example.com", language="ru")
    User.objects.filter(pk=user.pk).update(date_joined=datetime(2031, 3, 14, 9, tzinfo=UTC))

    page = client_for(user).get(reverse("profile")).content.decode()

    assert "Март 2031" in page  # the profile's "member since" month, in Russian
    assert "March 2031" not in page
