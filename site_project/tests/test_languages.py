"""Russian and English everywhere a person reads: every dashboard, account and public page
walked as a visitor, an owner, a blocked owner and a manager, in Russian and in English.

In Russian, no English source string that the catalogue translates is left in what the page
shows (the list is read from the compiled catalogue, locale/ru/LC_MESSAGES/django.mo); in
English, no Cyrillic is left outside the language switcher. Then form errors, flash messages
and an account mail in Russian, and times shown and entered in the user's time zone."""

import gettext
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from blog.tests.factories import blog_index, make_post
from conftest import PASSWORD
from mailing.models import Attempt, Mailing, Message, Recipient, RecipientList, Run
from mailing.unsubscribe import make_token
from mailing.views import _queued_cancelled
from users.models import User

pytestmark = pytest.mark.django_db

RU = {"accept-language": "ru-RU,ru;q=0.9"}
EN = {"accept-language": "en-GB,en;q=0.9"}
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
CATALOGUE = Path(settings.BASE_DIR) / "locale" / "ru" / "LC_MESSAGES" / "django.mo"
# Whole source strings shorter than this are words that user data may well contain too.
SHORTEST = 6


# --- What a page shows ---------------------------------------------------------------------


class VisibleText(HTMLParser):
    """The text a person reads: text nodes and the attributes read out or shown (aria-label,
    placeholder, title, alt), without scripts, styles and the language switcher (whose
    language names are each in their own language)."""

    SHOWN_ATTRIBUTES = ("aria-label", "placeholder", "title", "alt")
    VOID = {"input", "br", "hr", "img", "meta", "link", "source", "col", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0  # > 0 inside a skipped element
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        skipped = (
            tag in ("script", "style")
            or values.get("data-testid") in ("language-switcher", "language-menu")
            # IANA zone names ("America/Swift_Current") are names, in no language.
            or values.get("name") == "time_zone"
        )
        if tag not in self.VOID:
            self._stack.append(tag)
            if self._skip_depth or skipped:
                self._skip_depth += 1
        if self._skip_depth:
            return
        for name in self.SHOWN_ATTRIBUTES:
            if values.get(name):
                self.parts.append(str(values[name]))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID or tag not in self._stack:
            return
        while self._stack:
            open_tag = self._stack.pop()
            if self._skip_depth:
                self._skip_depth -= 1
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self._skip_depth and data.strip():
            self.parts.append(" ".join(data.split()))


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return "\n".join(parser.parts)


def reading(html: str) -> str:
    """The visible text without what it quotes in “…” or «…»: names and literals such as a
    CSV file's accepted column names ("email", "почта"), the same in every language."""
    return re.sub(r"“[^”]*”|«[^»]*»", "“”", visible_text(html))


def html_lang(html: str) -> str:
    return re.search(r'<html lang="([^"]+)"', html)[1]


# --- The English strings the Russian catalogue translates -----------------------------------

PLACEHOLDER = re.compile(r"%\([^)]+\)[sd]|%[sd]|<[^>]+>")


def translated_source_strings() -> list[str]:
    """Every msgid of the compiled catalogue that has a Russian translation, as the pieces a
    page would show: a string with placeholders or markup gives its literal pieces. Pieces
    shorter than SHORTEST characters are left out (words such as "All" or "End" that user
    data can contain)."""
    assert CATALOGUE.exists(), "build the catalogue first: manage.py compilemessages"
    with CATALOGUE.open("rb") as mo:
        catalog = gettext.GNUTranslations(mo)._catalog  # type: ignore[attr-defined]
    pieces: set[str] = set()
    for key, russian in catalog.items():
        msgid = key[0] if isinstance(key, tuple) else key
        if not msgid or not russian or russian == msgid:
            continue
        msgid = msgid.split("\x04", 1)[-1]  # drop a context
        for piece in PLACEHOLDER.split(msgid):
            piece = " ".join(piece.split()).strip(" .,:;·—–-()“”")
            if len(piece) >= SHORTEST:
                pieces.add(piece)
    # The site's name is a name (in the title, the navbar, the footer), whatever its words.
    pieces.discard(settings.SITE_NAME)
    return sorted(pieces)


@pytest.fixture(scope="module")
def english_sources() -> list[str]:
    sources = translated_source_strings()
    assert len(sources) > 200  # the catalogue is the project's, not an empty one
    return sources


def english_left_in(text: str, sources: list[str]) -> list[str]:
    """The translated English strings found in `text`, as whole words."""
    return [
        source
        for source in sources
        if re.search(rf"(?<![A-Za-z]){re.escape(source)}(?![A-Za-z])", text)
    ]


# --- Pages and the people who see them ------------------------------------------------------


@pytest.fixture
def campaign(make_user, make_mailing, record_attempt, manager) -> dict:
    """An owner with a recipient, a message, a mailing with a finished run and attempts of
    both kinds; a blocked owner; a manager; a blog post."""
    owner = make_user("alice@example.com", first_name="Alice")
    # User data in words of its own, so that a match is the page's text, not theirs.
    people = [
        Recipient.objects.create(owner=owner, email=f"p{i}@example.org", full_name=f"Ivan {i}")
        for i in range(2)
    ]
    mailing = make_mailing(owner, recipients=people, subject="Spring offer")
    record_attempt(mailing, status=Attempt.Status.SUCCESS)
    record_attempt(mailing, status=Attempt.Status.FAILURE, server_response="550 5.1.1 No such user")
    now = timezone.now()
    Run.objects.create(
        mailing=mailing,
        occurrence=now - timedelta(hours=1),
        trigger=Run.Trigger.MANUAL,
        finished_at=now,
        cancelled_at=now,
        cancel_reason="stopped by the owner",
    )
    blocked = make_user("olga@example.com", blocked=True)
    theirs = Recipient.objects.create(owner=blocked, email="b@example.org", full_name="Boris")
    make_mailing(blocked, recipients=[theirs], subject="Winter news")
    fresh = make_user("new@example.com")
    customers = RecipientList.objects.create(owner=owner, name="Customers")
    index = blog_index()
    post = make_post("Our first post", index=index, intro="Why we write.")
    return {
        "owner": owner,
        "mailing": mailing,
        "message": mailing.message,
        "recipient": mailing.recipients.first(),
        "blocked": blocked,
        "fresh": fresh,
        "manager": manager,
        "blog": index.url,
        "post": post.url,
        "list": customers,
    }


def pages_of(campaign: dict) -> Iterator[tuple[str, User | None, str]]:
    """(who, user or None, url) for every page of the site a person reads."""
    mailing: Mailing = campaign["mailing"]
    message: Message = campaign["message"]
    recipient: Recipient = campaign["recipient"]
    owner: User = campaign["owner"]
    public = [
        "/",
        campaign["blog"],
        campaign["post"],
        "/no-such-page/",
        reverse("account_login"),
        reverse("account_signup"),
        reverse("account_reset_password"),
        reverse("account_reset_password_done"),
        reverse("account_email_verification_sent"),
        # The unsubscribe page a recipient opens from a mail, and one with a broken link.
        reverse("unsubscribe", args=[make_token(owner_id=owner.pk, email=recipient.email)]),
        reverse("unsubscribe", args=["not-a-token"]),
    ]
    for url in public:
        yield "visitor", None, url
    owned = [
        reverse("mailing:dashboard"),
        reverse("mailing:recipient_list"),
        reverse("mailing:recipient_list") + "?q=nobody-matches",
        reverse("mailing:recipient_create"),
        reverse("mailing:recipient_update", args=[recipient.pk]),
        reverse("mailing:recipient_delete", args=[recipient.pk]),
        reverse("mailing:message_list"),
        reverse("mailing:message_list") + "?q=nobody-matches",
        reverse("mailing:message_create"),
        reverse("mailing:message_detail", args=[message.pk]),
        reverse("mailing:message_update", args=[message.pk]),
        reverse("mailing:mailing_list"),
        reverse("mailing:mailing_list") + "?status=finished",
        reverse("mailing:mailing_create"),
        reverse("mailing:mailing_detail", args=[mailing.pk]),
        reverse("mailing:mailing_update", args=[mailing.pk]),
        reverse("mailing:mailing_delete", args=[mailing.pk]),
        reverse("mailing:attempt_list"),
        reverse("mailing:attempt_list") + "?status=failure",
        reverse("mailing:list_list"),
        reverse("mailing:list_create"),
        reverse("mailing:list_detail", args=[campaign["list"].pk]),
        reverse("mailing:list_update", args=[campaign["list"].pk]),
        reverse("mailing:list_delete", args=[campaign["list"].pk]),
        reverse("mailing:recipient_import"),
        reverse("mailing:suppression_list"),
        reverse("profile"),
        reverse("account_email"),
        reverse("account_change_password"),
        "/",
    ]
    for url in owned:
        yield "owner", owner, url
    for url in (
        reverse("mailing:dashboard"),
        reverse("mailing:recipient_list"),
        reverse("mailing:message_list"),
        reverse("mailing:mailing_list"),
        reverse("mailing:attempt_list"),
        reverse("mailing:mailing_create"),  # the "needs a message and a recipient" notice
    ):
        yield "new user", campaign["fresh"], url
    for url in (reverse("mailing:dashboard"), reverse("mailing:mailing_list")):
        yield "blocked owner", campaign["blocked"], url
    for url in (
        reverse("mailing:dashboard"),
        reverse("mailing:mailing_list"),
        reverse("mailing:mailing_list") + f"?owner={owner.pk}",
        reverse("mailing:mailing_detail", args=[mailing.pk]),
        reverse("mailing:message_list"),
        reverse("mailing:recipient_list"),
        reverse("mailing:attempt_list"),
        reverse("mailing:mailing_create"),  # 403: managers read only
        reverse("users:user_list"),
        reverse("users:user_list") + "?q=nobody-matches",
    ):
        yield "manager", campaign["manager"], url


@pytest.fixture
def fetch(client_for) -> Callable[[User | None, str, dict], tuple[int, str]]:
    clients: dict[int | None, Client] = {}

    def get(user: User | None, url: str, headers: dict) -> tuple[int, str]:
        key = user.pk if user else None
        if key not in clients:
            clients[key] = client_for(user) if user else Client()
        response = clients[key].get(url, headers=headers)
        return response.status_code, response.content.decode()

    return get


def test_every_page_in_russian_has_html_lang_ru_and_no_translated_english_left(
    campaign, fetch, english_sources
):
    found: dict[str, list[str]] = {}
    for who, user, url in pages_of(campaign):
        status, html = fetch(user, url, RU)
        assert status in (200, 400, 403, 404), (who, url, status)
        assert html_lang(html) == "ru", (who, url)
        text = reading(html)
        assert CYRILLIC.search(text), (who, url)
        left = english_left_in(text, english_sources)
        if left:
            found[f"{who} {url}"] = left

    assert found == {}


def test_every_page_in_english_has_no_russian_outside_the_switcher(campaign, fetch):
    found: dict[str, list[str]] = {}
    for who, user, url in pages_of(campaign):
        status, html = fetch(user, url, EN)
        assert status in (200, 400, 403, 404), (who, url, status)
        assert html_lang(html) == "en", (who, url)
        text = reading(html)
        # Language names are each in their own language (the profile's language field).
        names = {name for _code, name in settings.LANGUAGES}
        russian = [
            line for line in text.splitlines() if CYRILLIC.search(line) and line not in names
        ]
        if russian:
            found[f"{who} {url}"] = russian
    assert found == {}
    # The switcher itself offers Russian, in Russian.
    assert ">Русский<" in fetch(None, "/", EN)[1]


def test_the_chart_and_the_progress_card_get_their_words_from_the_page(campaign, fetch):
    owner, mailing = campaign["owner"], campaign["mailing"]
    _, dashboard = fetch(owner, reverse("mailing:dashboard"), RU)
    assert 'data-label-successes="Успешно"' in dashboard
    assert 'data-label-failures="С ошибкой"' in dashboard
    assert 'data-label-x="День"' in dashboard and 'data-label-y="Попытки"' in dashboard
    _, detail = fetch(owner, reverse("mailing:mailing_detail", args=[mailing.pk]), RU)
    assert 'data-label-sending="отправляется…"' in detail
    assert 'data-label-not-started="не запускалась"' in detail
    assert "остановлена владельцем" in detail  # the run's cancel reason, translated
    assert "Вручную" in detail  # what started the run
    # No inline script carries them (the CSP allows none); json_script's data is not code.
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", dashboard + detail)
    assert all('type="application/json"' in attributes for attributes in inline), inline


# --- Errors, flash messages and mails in Russian --------------------------------------------


def test_form_errors_and_flash_messages_in_russian(make_user, client_for):
    owner = make_user("alice@example.com")
    client = client_for(owner)

    refused = client.post(
        reverse("mailing:recipient_create"), {"email": "not an address"}, headers=RU
    )
    assert refused.status_code == 200
    page = visible_text(refused.content.decode())
    # The name left empty and the address refused, in Django's Russian, under their fields.
    assert "This field is required" not in page and "Enter a valid email" not in page
    assert re.search(r"Имя и фамилия\n[^\n]*(Обязательное|Требуется заполнить)", page)
    assert "Введите правильный адрес электронной почты." in page

    added = client.post(
        reverse("mailing:recipient_create"),
        {"email": "ivan@example.org", "full_name": "Иван Петров"},
        headers=RU,
        follow=True,
    )
    assert "Получатель добавлен." in visible_text(added.content.decode())

    # A refusal of the service (an address already there) comes back in Russian too.
    again = client.post(
        reverse("mailing:recipient_create"),
        {"email": "IVAN@example.org", "full_name": "Иван"},
        headers=RU,
    )
    assert "У вас уже есть получатель с этим адресом." in visible_text(again.content.decode())

    # A mailing whose end comes before its first send: the service's error under the field.
    message = Message.objects.create(owner=owner, subject="Тема", body="Текст")
    recipient = Recipient.objects.get(owner=owner)
    bad = client.post(
        reverse("mailing:mailing_create"),
        {
            "message": message.pk,
            "recipients": [recipient.pk],
            "first_send_at": "2031-03-10T10:00",
            "end_at": "2031-03-01T10:00",
            "periodicity": "daily",
        },
        headers=RU,
    )
    assert "Окончание должно быть позже первой отправки." in visible_text(bad.content.decode())

    deleted = client.post(
        reverse("mailing:message_delete", args=[message.pk]), headers=RU, follow=True
    )
    assert "Письмо удалено." in visible_text(deleted.content.decode())


def test_plural_forms_in_russian():
    with translation.override("ru"):
        assert [_queued_cancelled(n) for n in (1, 3, 5, 11, 21, 22, 25)] == [
            "отменено 1 письмо в очереди",
            "отменено 3 письма в очереди",
            "отменено 5 писем в очереди",
            "отменено 11 писем в очереди",
            "отменено 21 письмо в очереди",
            "отменено 22 письма в очереди",
            "отменено 25 писем в очереди",
        ]


def test_the_sign_up_verification_mail_is_in_russian_with_the_sites_name(db, mailoutbox):
    client = Client()
    signed_up = client.post(
        reverse("account_signup"),
        {"email": "olga@example.org", "password1": PASSWORD, "password2": PASSWORD},
        headers=RU,
    )
    assert signed_up.status_code == 302

    [mail] = mailoutbox
    assert mail.subject.startswith(f"[{settings.SITE_NAME}] ")
    assert CYRILLIC.search(mail.subject)
    assert settings.SITE_NAME in mail.body
    assert "подтвер" in mail.body.lower()  # allauth's Russian "confirm"
    assert "Hello from" not in mail.body
    page = client.get(signed_up["Location"], headers=RU).content.decode()
    assert "Подтвердите адрес электронной почты" in page


# --- Times in the user's time zone -----------------------------------------------------------


def test_times_are_shown_in_the_users_time_zone_in_lists_and_reports(
    make_user, make_mailing, record_attempt, client_for
):
    owner = make_user("alice@example.com", time_zone="Asia/Vladivostok")  # UTC+10
    first = datetime(2031, 3, 1, 9, 0, tzinfo=UTC)
    mailing = make_mailing(owner, first_send_at=first, end_at=first + timedelta(days=10))
    record_attempt(mailing, at=datetime(2030, 12, 31, 20, 15, 5, tzinfo=UTC))
    client = client_for(owner)

    listed = client.get(reverse("mailing:mailing_list")).content.decode()
    assert "2031-03-01 19:00" in listed  # 09:00 UTC
    assert "2031-03-01 09:00" not in listed

    report = client.get(reverse("mailing:attempt_list")).content.decode()
    assert "2031-01-01 06:15:05" in report  # 20:15 UTC on New Year's Eve is morning there

    detail = client.get(reverse("mailing:mailing_detail", args=[mailing.pk])).content.decode()
    assert "2031-03-01 19:00" in detail
    assert "2031-03-11 19:00" in detail  # the end


def test_a_time_entered_in_the_mailing_form_is_taken_in_the_users_time_zone(make_user, client_for):
    owner = make_user("alice@example.com", time_zone="America/New_York")
    message = Message.objects.create(owner=owner, subject="Hello", body="Hi.")
    recipient = Recipient.objects.create(owner=owner, email="r@example.org", full_name="R")
    client = client_for(owner)

    saved = client.post(
        reverse("mailing:mailing_create"),
        {
            "message": message.pk,
            "recipients": [recipient.pk],
            "first_send_at": "2031-07-04T09:30",
            "end_at": "2031-07-05T09:30",
            "periodicity": "once",
        },
    )

    assert saved.status_code == 302
    mailing = Mailing.objects.get(owner=owner)
    new_york = ZoneInfo("America/New_York")
    assert mailing.first_send_at == datetime(2031, 7, 4, 9, 30, tzinfo=new_york)
    assert mailing.first_send_at.astimezone(UTC).hour == 13  # EDT is UTC-4
    # The edit form gives the same wall-clock time back.
    form = client.get(reverse("mailing:mailing_update", args=[mailing.pk])).content.decode()
    assert 'value="2031-07-04T09:30"' in form
