"""The permission rule on every dashboard path: another user's object answers 404, managers
read everything and write nothing of others', blocked users read but cannot change or send."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mailing import delivery
from mailing.models import Attempt, Mailing, Message, Recipient, Run
from users.models import User

pytestmark = pytest.mark.django_db


GET, POST = "get", "post"


@dataclass(frozen=True)
class Route:
    name: str
    kind: str  # which of the owner's objects the URL names
    methods: tuple[str, ...]  # the methods the view answers; others get 405 from anyone
    write: bool

    def url(self, world: "World", pk: int | None = None) -> str:
        return reverse(f"mailing:{self.name}", args=[pk or getattr(world, self.kind).pk])


@dataclass(frozen=True)
class Path:
    route: Route
    method: str

    @property
    def answered(self) -> bool:
        return self.method in self.route.methods

    def __str__(self) -> str:
        return f"{self.method} {self.route.name}"


@dataclass
class World:
    owner: User
    recipient: Recipient
    message: Message
    mailing: Mailing

    def snapshot(self) -> tuple:
        """Everything a write could have changed."""
        return (
            list(
                Recipient.objects.filter(owner=self.owner).values_list("pk", "email", "full_name")
            ),
            list(Message.objects.filter(owner=self.owner).values_list("pk", "subject", "body")),
            list(
                Mailing.objects.filter(owner=self.owner).values_list(
                    "pk", "status", "next_send_at", "is_disabled", "end_at", "paused_at"
                )
            ),
            Run.objects.filter(mailing__owner=self.owner).count(),
            Attempt.objects.filter(mailing__owner=self.owner).count(),
        )


ROUTES = [
    Route("recipient_update", "recipient", (GET, POST), True),
    Route("recipient_delete", "recipient", (GET, POST), True),
    Route("message_detail", "message", (GET,), False),
    Route("message_update", "message", (GET, POST), True),
    Route("message_delete", "message", (GET, POST), True),
    Route("mailing_detail", "mailing", (GET,), False),
    Route("mailing_progress", "mailing", (GET,), False),
    Route("mailing_update", "mailing", (GET, POST), True),
    Route("mailing_delete", "mailing", (GET, POST), True),
    Route("mailing_send", "mailing", (POST,), True),
    Route("mailing_stop", "mailing", (POST,), True),
    Route("mailing_schedule", "mailing", (POST,), True),
    Route("mailing_pause", "mailing", (POST,), True),
    Route("mailing_resume", "mailing", (POST,), True),
]
# The managers' own action (GET: its confirmation page).
DISABLE = Route("mailing_disable", "mailing", (GET, POST), True)
# Every path of an owner's objects, with both methods: the IDOR matrix.
MATRIX = [Path(route, method) for route in [*ROUTES, DISABLE] for method in (GET, POST)]
OBJECT_PATHS = [path for path in MATRIX if path.route is not DISABLE and path.answered]
CREATE_PATHS = ["recipient_create", "message_create", "mailing_create"]
LIST_PATHS = ["dashboard", "recipient_list", "message_list", "mailing_list", "attempt_list"]


def form_data(world: World) -> dict:
    """A valid body for any of the forms, so that a refusal is the rule's, not a form error's."""
    later = timezone.localtime() + timedelta(days=1)
    return {
        "email": "changed@example.org",
        "full_name": "Changed",
        "subject": "Changed",
        "body": "Changed",
        "message": world.message.pk,
        "recipients": [world.recipient.pk],
        "first_send_at": later.strftime("%Y-%m-%dT%H:%M"),
        "end_at": (later + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "periodicity": "daily",
        "send_at": (later + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
    }


@pytest.fixture
def world(user, make_mailing) -> World:
    mailing = make_mailing(user, recipients=2, first_send_at=timezone.now() + timedelta(days=1))
    message = mailing.message
    Attempt.objects.create(
        mailing=mailing,
        email="past@example.org",
        status=Attempt.Status.SUCCESS,
        server_response="250",
    )
    return World(user, mailing.recipients.first(), message, mailing)


def request(client: Client, path: Path, world: World, pk: int | None = None):
    url = path.route.url(world, pk)
    if path.method == GET:
        return client.get(url)
    return client.post(url, form_data(world))


@pytest.mark.parametrize("path", MATRIX, ids=str)
def test_another_users_object_answers_404_and_nothing_changes(world, other_user, client_for, path):
    client = client_for(other_user)
    before = world.snapshot()

    response = request(client, path, world)

    # Exactly what a missing object gets: 404, or 405 (from anyone) for a method the path
    # never answers. Either way nothing tells Bob that Alice's object exists.
    assert response.status_code == (404 if path.answered else 405)
    assert response.status_code == request(client, path, world, pk=10**9).status_code
    assert world.snapshot() == before


@pytest.mark.parametrize("path", [p for p in OBJECT_PATHS if not p.route.write], ids=str)
def test_a_manager_reads_every_users_objects(world, manager, client_for, path):
    response = request(client_for(manager), path, world)
    assert response.status_code == 200


@pytest.mark.parametrize("path", [p for p in OBJECT_PATHS if p.route.write], ids=str)
def test_a_manager_is_refused_every_write_even_a_forged_post(world, manager, client_for, path):
    before = world.snapshot()

    response = request(client_for(manager), path, world)

    assert response.status_code == 403
    assert world.snapshot() == before


@pytest.mark.parametrize("name", CREATE_PATHS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_manager_cannot_create_campaign_objects(world, manager, client_for, name, method):
    client = client_for(manager)
    url = reverse(f"mailing:{name}")
    response = client.get(url) if method == "get" else client.post(url, form_data(world))
    assert response.status_code == 403
    assert not Recipient.objects.filter(owner=manager).exists()
    assert not Message.objects.filter(owner=manager).exists()


@pytest.mark.parametrize("path", [p for p in OBJECT_PATHS if p.route.write], ids=str)
def test_a_manager_is_read_only_on_their_own_campaign_data_too(
    manager, client_for, make_mailing, path
):
    # Managers read campaigns and block, unblock and disable; they write none, even rows
    # that an earlier role or the admin left in their name.
    mailing = make_mailing(manager, recipients=1, first_send_at=timezone.now() + timedelta(days=1))
    own = World(manager, mailing.recipients.first(), mailing.message, mailing)
    before = own.snapshot()

    response = request(client_for(manager), path, own)

    assert response.status_code == 403
    assert own.snapshot() == before


def test_a_manager_sees_no_edit_buttons_on_their_own_campaign_data(
    manager, client_for, make_mailing
):
    mailing = make_mailing(manager, recipients=1)
    client = client_for(manager)
    recipient = mailing.recipients.first()

    recipients = client.get(reverse("mailing:recipient_list")).content.decode()
    mailings = client.get(reverse("mailing:mailing_list")).content.decode()
    detail = client.get(reverse("mailing:mailing_detail", args=[mailing.pk])).content.decode()
    message = client.get(reverse("mailing:message_detail", args=[mailing.message_id]))

    assert recipient.email in recipients and f"#{mailing.pk}" in mailings
    assert reverse("mailing:recipient_update", args=[recipient.pk]) not in recipients
    assert reverse("mailing:mailing_update", args=[mailing.pk]) not in mailings + detail
    assert reverse("mailing:mailing_send", args=[mailing.pk]) not in mailings + detail
    assert reverse("mailing:message_update", args=[mailing.message_id]) not in (
        message.content.decode()
    )


def test_a_manager_may_disable_a_mailing(world, manager, client_for):
    response = client_for(manager).post(reverse("mailing:mailing_disable", args=[world.mailing.pk]))
    assert response.status_code == 302
    world.mailing.refresh_from_db()
    assert world.mailing.is_disabled


def test_an_owner_may_not_disable_their_own_mailing(world, client_for):
    response = client_for(world.owner).post(
        reverse("mailing:mailing_disable", args=[world.mailing.pk])
    )
    assert response.status_code == 403
    world.mailing.refresh_from_db()
    assert not world.mailing.is_disabled


@pytest.mark.parametrize("name", LIST_PATHS)
def test_lists_show_a_manager_everyone_and_a_user_only_their_own(
    world, other_user, manager, client_for, make_mailing, record_attempt, name
):
    bobs = make_mailing(other_user, recipients=1, subject="Bob's news", domain="bob.example")
    record_attempt(bobs, email="bob-attempt@bob.example", status=Attempt.Status.FAILURE)
    url = reverse(f"mailing:{name}")

    own = client_for(world.owner).get(url).content.decode()
    everyone = client_for(manager).get(url).content.decode()

    assert "bob.example" not in own and "Bob&#x27;s news" not in own
    if name in ("recipient_list", "attempt_list"):
        assert "bob.example" in everyone
    if name in ("message_list", "mailing_list"):
        assert "Bob&#x27;s news" in everyone


def test_the_manager_sees_no_edit_or_delete_buttons_for_others_objects(world, manager, client_for):
    client = client_for(manager)
    pages = [
        reverse("mailing:recipient_list"),
        reverse("mailing:message_detail", args=[world.message.pk]),
        reverse("mailing:mailing_list"),
        reverse("mailing:mailing_detail", args=[world.mailing.pk]),
    ]
    for page in pages:
        html = client.get(page).content.decode()
        for name in ("recipient_update", "recipient_delete", "message_update", "mailing_update"):
            obj = {
                "recipient": world.recipient,
                "message": world.message,
                "mailing": world.mailing,
            }[name.split("_")[0]]
            assert reverse(f"mailing:{name}", args=[obj.pk]) not in html, (page, name)
        assert reverse("mailing:mailing_send", args=[world.mailing.pk]) not in html
    detail = client.get(reverse("mailing:mailing_detail", args=[world.mailing.pk])).content.decode()
    assert "Disable mailing" in detail


@pytest.mark.parametrize(
    "path", [p for p in OBJECT_PATHS if p.route.write and p.method == POST], ids=str
)
def test_a_blocked_owner_can_read_but_not_change_or_send(world, client_for, path):
    type(world.owner).objects.filter(pk=world.owner.pk).update(is_blocked=True)
    world.owner.refresh_from_db()
    client = client_for(world.owner)
    before = world.snapshot()

    response = request(client, path, world)

    assert response.status_code == 403
    assert world.snapshot() == before
    detail = client.get(reverse("mailing:mailing_detail", args=[world.mailing.pk]))
    assert detail.status_code == 200
    assert "Your account is blocked." in detail.content.decode()


@pytest.mark.parametrize("name", CREATE_PATHS)
def test_a_blocked_user_cannot_create(world, client_for, name):
    type(world.owner).objects.filter(pk=world.owner.pk).update(is_blocked=True)
    world.owner.refresh_from_db()
    client = client_for(world.owner)

    assert client.get(reverse(f"mailing:{name}")).status_code == 403
    assert client.post(reverse(f"mailing:{name}"), form_data(world)).status_code == 403


# --- Query parameters name objects too -------------------------------------------------------


def test_another_users_mailing_in_the_report_filter_shows_nothing_of_theirs(
    world, other_user, client_for, make_mailing, record_attempt
):
    record_attempt(world.mailing, email="alice-attempt@alice.example")
    bobs = make_mailing(other_user, recipients=1, domain="bob.example")
    record_attempt(bobs, email="bob-attempt@bob.example")

    response = client_for(other_user).get(
        reverse("mailing:attempt_list"), {"mailing": world.mailing.pk}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "alice.example" not in html and "past@example.org" not in html
    # The id is refused like a tampered form value, and not offered as a choice either.
    assert response.context["form"].errors["mailing"]
    assert f'<option value="{world.mailing.pk}"' not in html
    assert {a.mailing_id for a in response.context["page_obj"].object_list} <= {bobs.pk}


def test_another_users_id_in_the_owner_filter_shows_nothing_of_theirs(
    world, other_user, client_for, make_mailing
):
    bobs = make_mailing(other_user, recipients=1, subject="Bob's news")

    response = client_for(other_user).get(
        reverse("mailing:mailing_list"), {"owner": world.owner.pk}
    )

    page = response.context["page_obj"]
    assert response.status_code == 200
    assert list(page.object_list) == []
    assert world.owner.email not in response.content.decode()
    assert "Hello" not in response.content.decode()  # Alice's subject
    # Without the parameter Bob sees his own, and only his own.
    mine = client_for(other_user).get(reverse("mailing:mailing_list")).context["page_obj"]
    assert [m.pk for m in mine.object_list] == [bobs.pk]


@pytest.mark.parametrize("name", ["users:user_list"])
def test_manager_pages_are_refused_to_users(world, client_for, name):
    assert client_for(world.owner).get(reverse(name)).status_code == 403


def test_every_dashboard_page_needs_a_sign_in(world):
    client = Client()
    urls = [reverse(f"mailing:{name}") for name in LIST_PATHS + CREATE_PATHS]
    urls += [route.url(world) for route in [*ROUTES, DISABLE]]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_a_post_without_the_csrf_token_is_refused(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)

    response = client.post(reverse("mailing:mailing_send", args=[world.mailing.pk]))

    assert response.status_code == 403
    assert not Run.objects.filter(mailing=world.mailing).exists()


def test_stop_by_the_owner_works_while_a_run_is_queued(world, client_for):
    delivery.start_run(mailing=world.mailing)
    response = client_for(world.owner).post(
        reverse("mailing:mailing_stop", args=[world.mailing.pk])
    )
    assert response.status_code == 302
    world.mailing.refresh_from_db()
    assert world.mailing.status == Mailing.Status.FINISHED
