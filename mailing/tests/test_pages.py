"""What the dashboard pages offer each role: create buttons, empty states that say what to do
next, filters kept across pages, and a flash message after every action."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from mailing import delivery
from mailing.models import Attempt, Mailing, Message, Recipient
from users.models import User

pytestmark = pytest.mark.django_db

FORMAT = "%Y-%m-%dT%H:%M"


def flashes(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def blocked(make_user) -> User:
    return make_user("blocked@example.com", blocked=True)


# --- Create buttons and empty states ---------------------------------------------------------

LISTS = {
    "recipient_list": ("recipient_create", "Recipients appear here once their owners add them."),
    "message_list": ("message_create", "Messages appear here once their owners write them."),
    "mailing_list": ("mailing_create", "Mailings appear here once their owners create them."),
}


@pytest.mark.parametrize("page", LISTS)
def test_an_empty_list_leads_its_owner_to_the_create_form(user, client_for, page):
    create, _ = LISTS[page]

    html = client_for(user).get(reverse(f"mailing:{page}")).content.decode()

    empty_state = html.split('data-testid="empty-state"', 1)[1]
    assert f'href="{reverse(f"mailing:{create}")}"' in empty_state


@pytest.mark.parametrize("role", ["manager", "blocked"])
@pytest.mark.parametrize("page", LISTS)
def test_who_cannot_create_gets_no_create_button_and_an_empty_state_that_fits(
    request, client_for, page, role
):
    create, readonly_text = LISTS[page]
    viewer = request.getfixturevalue(role)

    response = client_for(viewer).get(reverse(f"mailing:{page}"))

    html = response.content.decode()
    assert response.context["can_create"] is False
    assert reverse(f"mailing:{create}") not in html
    assert readonly_text in html


@pytest.mark.parametrize(
    ("role", "offered"), [("user", True), ("manager", False), ("blocked", False)]
)
def test_the_dashboard_offers_to_create_only_to_who_can(request, client_for, role, offered):
    html = client_for(request.getfixturevalue(role)).get(reverse("mailing:dashboard")).content
    for name in ("mailing_create", "recipient_create", "message_create"):
        assert (reverse(f"mailing:{name}") in html.decode()) is offered, name


def test_the_mailing_form_says_what_to_create_first(user, client_for):
    client = client_for(user)
    url = reverse("mailing:mailing_create")

    html = client.get(url).content.decode()
    assert reverse("mailing:message_create") in html
    assert reverse("mailing:recipient_create") in html

    Message.objects.create(owner=user, subject="S", body="B")
    html = client.get(url).content.decode()
    assert reverse("mailing:message_create") not in html
    assert reverse("mailing:recipient_create") in html

    Recipient.objects.create(owner=user, email="a@example.org", full_name="A")
    assert 'data-testid="mailing-needs"' not in client.get(url).content.decode()


def test_the_attempt_report_tells_no_attempts_yet_from_no_match(user, client_for, make_mailing):
    make_mailing(user, recipients=1)
    client = client_for(user)
    url = reverse("mailing:attempt_list")

    assert "No attempts yet." in client.get(url).content.decode()
    assert (
        "No attempt matches these filters."
        in client.get(url, {"status": "failure"}).content.decode()
    )


# --- Filters kept across pages ---------------------------------------------------------------


def test_a_search_is_kept_on_every_page_link(user, client_for):
    Recipient.objects.bulk_create(
        [Recipient(owner=user, email=f"match{i:02}@example.org", full_name="M") for i in range(30)]
        + [
            Recipient(owner=user, email=f"other{i:02}@example.org", full_name="O")
            for i in range(30)
        ]
    )
    client = client_for(user)
    url = reverse("mailing:recipient_list")

    first = client.get(url, {"q": "match", "page": 1})

    assert first.context["query"] == "q=match"
    assert 'href="?q=match&amp;page=2"' in first.content.decode()
    second = client.get(url, {"q": "match", "page": 2}).context["page_obj"]
    assert [r.email for r in second.object_list] == [
        f"match{i:02}@example.org" for i in (25, 26, 27, 28, 29)
    ]


def test_the_report_filters_are_kept_on_every_page_link(
    user, client_for, make_mailing, record_attempt
):
    mailing = make_mailing(user, recipients=1)
    for i in range(30):
        record_attempt(mailing, email=f"bad{i}@example.org", status=Attempt.Status.FAILURE)
        record_attempt(mailing, email=f"good{i}@example.org")
    client = client_for(user)
    url = reverse("mailing:attempt_list")
    query = {"mailing": mailing.pk, "status": "failure"}

    first = client.get(url, {**query, "page": 1})

    assert f'href="?mailing={mailing.pk}&amp;status=failure&amp;page=2"' in first.content.decode()
    second = client.get(url, {**query, "page": 2}).context["page_obj"]
    assert second.paginator.count == 30 and len(second.object_list) == 5
    assert {a.status for a in second.object_list} == {Attempt.Status.FAILURE}


# --- A flash message after every action ------------------------------------------------------


@dataclass(frozen=True)
class Action:
    name: str
    url: Callable[[Mailing], str]
    data: Callable[[Mailing], dict]
    expected: Callable[[Mailing], str]
    actor: str = "user"


def _later(**delta) -> str:
    return (timezone.localtime() + timedelta(**delta)).strftime(FORMAT)


def _mailing_data(mailing: Mailing) -> dict:
    return {
        "message": mailing.message_id,
        "recipients": list(mailing.recipients.values_list("pk", flat=True)),
        "first_send_at": _later(days=1),
        "end_at": _later(days=9),
        "periodicity": "weekly",
    }


def _url(name: str, kind: str | None = None) -> Callable[[Mailing], str]:
    def build(mailing: Mailing) -> str:
        obj = {
            None: None,
            "mailing": mailing,
            "message": Message.objects.filter(owner=mailing.owner)
            .exclude(mailings=mailing)
            .first(),
            "recipient": mailing.recipients.first(),
        }[kind]
        return reverse(f"mailing:{name}", args=[obj.pk] if obj else [])

    return build


def _none(mailing: Mailing) -> dict:
    return {}


def _text(text: str) -> Callable[[Mailing], str]:
    return lambda mailing: text


ACTIONS = [
    Action(
        "add recipient",
        _url("recipient_create"),
        lambda m: {"email": "new@example.org", "full_name": "New"},
        _text("Recipient added."),
    ),
    Action(
        "edit recipient",
        _url("recipient_update", "recipient"),
        lambda m: {"email": "renamed@example.org", "full_name": "Renamed"},
        _text("Recipient updated."),
    ),
    Action(
        "delete recipient",
        _url("recipient_delete", "recipient"),
        _none,
        _text("Recipient deleted."),
    ),
    Action(
        "write message",
        _url("message_create"),
        lambda m: {"subject": "Hi", "body": "Hello"},
        _text("Message saved."),
    ),
    Action(
        "edit message",
        _url("message_update", "message"),
        lambda m: {"subject": "Hi again", "body": "Hello"},
        _text("Message updated."),
    ),
    Action("delete message", _url("message_delete", "message"), _none, _text("Message deleted.")),
    Action(
        "create mailing",
        _url("mailing_create"),
        _mailing_data,
        _text("Mailing saved. It starts by itself at its first send time."),
    ),
    Action(
        "edit mailing", _url("mailing_update", "mailing"), _mailing_data, _text("Mailing updated.")
    ),
    Action("delete mailing", _url("mailing_delete", "mailing"), _none, _text("Mailing deleted.")),
    Action(
        "send now",
        _url("mailing_send", "mailing"),
        _none,
        _text("Sending to 2 recipients has started."),
    ),
    Action(
        "stop",
        _url("mailing_stop", "mailing"),
        _none,
        _text("Mailing stopped; 0 queued messages cancelled."),
    ),
    Action(
        "schedule",
        _url("mailing_schedule", "mailing"),
        lambda m: {"send_at": _later(days=2)},
        lambda m: f"Next send set to {_later(days=2).replace('T', ' ')}.",
    ),
    Action(
        "send a disabled mailing (refused)",
        _url("mailing_send", "mailing"),
        _none,
        _text("A manager has disabled this mailing."),
    ),
    Action(
        "disable",
        _url("mailing_disable", "mailing"),
        _none,
        lambda m: f"Mailing #{m.pk} disabled; 0 queued messages cancelled.",
        actor="manager",
    ),
    Action(
        "delete a message in use (refused)",
        lambda m: reverse("mailing:message_delete", args=[m.message_id]),
        _none,
        lambda m: f"This message is used by mailing #{m.pk}; delete those first.",
    ),
]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.name)
def test_every_action_ends_on_a_page_with_a_flash_message(
    user, manager, make_mailing, action: Action
):
    mailing = make_mailing(user, recipients=2, first_send_at=timezone.now() + timedelta(days=1))
    Message.objects.create(owner=user, subject="Spare", body="Not used by any mailing")
    if "disabled" in action.name:
        Mailing.objects.filter(pk=mailing.pk).update(is_disabled=True)
    client = Client()
    client.force_login({"user": user, "manager": manager}[action.actor])

    response = client.post(action.url(mailing), action.data(mailing), follow=True)

    assert response.status_code == 200
    assert response.redirect_chain, "an action answers with a redirect"
    assert flashes(response) == [action.expected(mailing)]
    assert action.expected(mailing) in response.content.decode().replace("&#x27;", "'")


@pytest.mark.parametrize(
    ("queued", "text"), [(1, "1 queued message cancelled"), (2, "2 queued messages cancelled")]
)
@pytest.mark.parametrize("action", ["mailing_stop", "mailing_disable"])
def test_the_number_of_cancelled_messages_is_spelt_right(
    user, manager, client_for, make_mailing, queued, text, action
):
    mailing = make_mailing(user, recipients=queued)
    delivery.start_run(mailing=mailing)
    actor = manager if action == "mailing_disable" else user

    response = client_for(actor).post(reverse(f"mailing:{action}", args=[mailing.pk]), follow=True)

    assert text in flashes(response)[0]


# --- The schedule modal ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("send_at", "error"),
    [
        (lambda: _later(hours=-1), "Choose a time in the future."),
        (lambda: _later(days=60), "Choose a time before the mailing's end."),
        (lambda: "next tuesday", "Enter a valid date/time."),
    ],
)
def test_a_refused_schedule_time_is_shown_under_the_field_with_the_modal_open(
    user, client_for, make_mailing, send_at, error
):
    mailing = make_mailing(user, recipients=1, first_send_at=timezone.now() + timedelta(days=1))
    before = mailing.next_send_at
    typed = send_at()

    response = client_for(user).post(
        reverse("mailing:mailing_schedule", args=[mailing.pk]), {"send_at": typed}
    )

    assert response.status_code == 400
    assert response.context["schedule_form"].errors["send_at"] == [error]
    assert flashes(response) == []
    html = response.content.decode()
    modal = html.split('id="schedule-modal"', 1)[1].split("</form>", 1)[0]
    assert 'id="id_send_at_error"' in modal and escape(error) in modal
    assert f'value="{typed}"' in modal  # what was typed stays in the field
    # The modal opens at once (static/js/site.js reads the attribute; no inline script).
    assert re.search(r'id="schedule-modal"[^>]*data-show-on-load', html)
    mailing.refresh_from_db()
    assert mailing.next_send_at == before


def test_the_mailing_page_does_not_open_the_schedule_modal_by_itself(
    user, client_for, make_mailing
):
    mailing = make_mailing(user, recipients=1)

    html = client_for(user).get(reverse("mailing:mailing_detail", args=[mailing.pk])).content

    assert b'id="schedule-modal"' in html and b".show()" not in html
    assert b"data-show-on-load" not in html
