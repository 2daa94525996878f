"""Content-Security-Policy on every page: the site and the dashboard run only our own script and
style files, so injected markup cannot run; Wagtail's admin gets what it needs, there only."""

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db

BASE_DIR = Path(settings.BASE_DIR)


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def inline_code(html: str) -> list[str]:
    """What a strict policy would refuse: inline scripts, event handler and style attributes,
    javascript: links."""
    soup = BeautifulSoup(html, "html.parser")
    found = []
    for script in soup.find_all("script"):
        if not script.get("src") and script.get("type") != "application/json":
            found.append(str(script)[:120])
    for tag in soup.find_all(True):
        for name, value in tag.attrs.items():
            if name == "style" or name.startswith("on"):
                found.append(f"<{tag.name} {name}=...>")
            if name in ("href", "action", "src") and str(value).strip().lower().startswith(
                "javascript:"
            ):
                found.append(f"<{tag.name} {name}={value}>")
    return found


@pytest.fixture
def pages(make_user, make_mailing, client_for, record_attempt):
    user = make_user("alice@example.com")
    mailing = make_mailing(user, recipients=2)
    record_attempt(mailing)
    return client_for(user), [
        reverse("mailing:dashboard"),
        reverse("mailing:mailing_list"),
        reverse("mailing:mailing_detail", args=[mailing.pk]),
        reverse("mailing:mailing_create"),
        reverse("mailing:recipient_list"),
        reverse("mailing:attempt_list"),
        reverse("profile"),
    ]


def test_public_and_account_pages_allow_no_inline_script_or_style(client):
    for url in ("/", reverse("account_login"), reverse("account_signup"), "/no-such-page/"):
        response = client.get(url)
        directives = policy(response)

        assert directives["script-src"] == ["'self'"], url
        assert directives["style-src"] == ["'self'"], url
        assert directives["object-src"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'self'"]
        assert inline_code(response.content.decode()) == [], url


def test_dashboard_pages_allow_no_inline_script_or_style(pages):
    client, urls = pages
    for url in urls:
        response = client.get(url)

        assert response.status_code == 200, url
        assert policy(response)["script-src"] == ["'self'"], url
        assert inline_code(response.content.decode()) == [], url


def test_a_refused_schedule_time_reopens_the_modal_without_inline_script(pages):
    client, urls = pages
    detail = urls[2]
    refused = client.post(detail + "schedule/", {"send_at": "2000-01-01T00:00"})

    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'id="schedule-modal"' in html
    assert "data-show-on-load" in html  # static/js/site.js opens it
    assert inline_code(html) == []


def test_wagtails_admin_gets_its_own_policy_under_admin_only(make_user, client_for):
    admin = make_user("admin@example.com", is_superuser=True, is_staff=True)
    client = client_for(admin)

    directives = policy(client.get("/admin/"))

    assert "'unsafe-inline'" in directives["script-src"]
    assert "'unsafe-inline'" in directives["style-src"]
    assert policy(client.get(reverse("mailing:dashboard")))["script-src"] == ["'self'"]


def test_no_template_of_ours_has_inline_script_or_style():
    templates = [
        path
        for folder in (BASE_DIR / "templates", *BASE_DIR.glob("*/templates"))
        for path in folder.rglob("*.html")
    ]
    assert len(templates) > 30  # the glob finds them
    offenders = []
    for path in templates:
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text):
            offenders.append(f"{path}: inline <script>")
        if re.search(r"\sstyle=\"|\son[a-z]+=\"|javascript:", text):
            offenders.append(f"{path}: style=, on*= or javascript:")
    assert offenders == []


def test_the_favicon_is_served(client):
    redirect = client.get("/favicon.ico")

    assert redirect.status_code == 302
    icon = client.get(redirect["Location"])
    assert icon.status_code == 200
    assert b"".join(icon.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert '<link rel="icon"' in client.get(reverse("account_login")).content.decode()
