"""One way in: Wagtail's sign-in pages (admin and private pages) and its password tools all
lead to allauth's, which refuses unconfirmed addresses and applies the rate limits."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from wagtail.models import PageViewRestriction

from blog.tests.factories import make_post
from conftest import PASSWORD
from users.groups import PUBLISHERS

LOGIN = reverse("account_login")


def assert_sent_to_login(response, next_url: str) -> None:
    """The response redirects to allauth's sign-in page, which will go on to `next_url`."""
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == LOGIN
    assert parse_qs(location.query) == {"next": [next_url]}


def is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def publisher(make_user):
    user = make_user("publisher@example.com")
    user.groups.add(Group.objects.get(name=PUBLISHERS))
    return user


@pytest.fixture
def unconfirmed_publisher(make_user):
    user = make_user("new.publisher@example.com", verified=False)
    user.groups.add(Group.objects.get(name=PUBLISHERS))
    return user


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "target"),
    [("/admin/login/", "/admin/pages/"), ("/_util/login/", "/blog/a-private-post/")],
)
def test_wagtails_sign_in_pages_send_you_to_allauths_keeping_next(client, path, target):
    response = client.get(path, {"next": target})

    assert_sent_to_login(response, target)


@pytest.mark.django_db
def test_the_admin_sign_in_page_without_next_still_leads_to_the_admin(client, publisher):
    response = client.get("/admin/login/")

    assert_sent_to_login(response, "/admin/")
    signed_in = client.post(response["Location"], {"login": publisher.email, "password": PASSWORD})
    assert signed_in["Location"] == "/admin/"


@pytest.mark.django_db
def test_an_unconfirmed_address_cannot_sign_in_through_the_admin_login(
    client, unconfirmed_publisher, mailoutbox
):
    # What Wagtail's own login form posted: it used to sign this person in.
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": unconfirmed_publisher.email, "password": PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert not is_signed_in(client)
    assert client.get(reverse("mailing:dashboard"))["Location"].startswith(LOGIN)

    refused = client.post(
        f"{LOGIN}?next=/admin/",
        {"login": unconfirmed_publisher.email, "password": PASSWORD},
    )

    assert refused["Location"] == reverse("account_email_verification_sent")
    assert not is_signed_in(client)
    assert [m.to for m in mailoutbox] == [[unconfirmed_publisher.email]]  # a fresh link


@pytest.mark.django_db
def test_an_editor_signs_in_on_allauths_form_and_lands_in_the_admin(client, publisher):
    to_admin = client.get("/admin/")

    assert_sent_to_login(to_admin, "/admin/")
    form = client.get(to_admin["Location"])
    assert "account/login.html" in {t.name for t in form.templates}

    signed_in = client.post(to_admin["Location"], {"login": publisher.email, "password": PASSWORD})

    assert signed_in.status_code == 302
    assert signed_in["Location"] == "/admin/"
    dashboard = client.get("/admin/")
    assert dashboard.status_code == 200
    assert "wagtailadmin/home.html" in {t.name for t in dashboard.templates}


@pytest.mark.django_db
def test_a_signed_in_user_without_admin_access_sees_why_instead_of_a_redirect_loop(
    user, client_for
):
    response = client_for(user).get("/admin/", follow=True)

    assert response.status_code == 200
    [(location, _status)] = response.redirect_chain
    assert location.startswith(LOGIN)
    assert "You do not have permission to access the admin" in response.content.decode()


@pytest.mark.django_db
def test_a_private_page_asks_for_a_confirmed_sign_in_on_allauths_form(
    client, make_user, unconfirmed_publisher
):
    post = make_post("Members only")
    PageViewRestriction.objects.create(page=post, restriction_type=PageViewRestriction.LOGIN)
    reader = make_user("reader@example.com")

    response = client.get(post.url)

    assert_sent_to_login(response, post.url)
    login_url = response["Location"]
    client.post(login_url, {"login": unconfirmed_publisher.email, "password": PASSWORD})
    assert not is_signed_in(client)

    signed_in = client.post(login_url, {"login": reader.email, "password": PASSWORD})

    assert signed_in["Location"] == post.url
    assert client.get(post.url).status_code == 200


@pytest.mark.django_db
def test_wagtails_password_reset_is_gone(client, publisher, mailoutbox):
    assert client.get("/admin/password_reset/").status_code == 404
    assert client.post("/admin/password_reset/", {"email": publisher.email}).status_code == 404
    assert mailoutbox == []
    # The admin's sign-in page (allauth's) offers allauth's reset instead.
    assert reverse("account_reset_password") in client.get(LOGIN).content.decode()


@pytest.mark.django_db
def test_the_admin_account_page_cannot_change_the_email_or_password(publisher, client_for):
    html = client_for(publisher).get("/admin/account/").content.decode()

    # An address changed there would skip allauth's confirmation; a password changed there
    # would skip the notification mail.
    assert 'name="name_email-email"' not in html
    assert 'name="password-new_password1"' not in html
    assert 'name="name_email-first_name"' in html
