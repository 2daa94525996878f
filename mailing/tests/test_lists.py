"""Lists: who a mailing reaches is resolved when a run starts; the lists' pages and services."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mailing import delivery, services
from mailing.audience import audience_count
from mailing.models import Delivery, Membership, Recipient, RecipientList, Suppression

pytestmark = pytest.mark.django_db


def recipients(owner, *names: str) -> list[Recipient]:
    return [
        Recipient.objects.create(owner=owner, email=f"{name}@example.org", full_name=name.title())
        for name in names
    ]


def queued(run) -> set[str]:
    return set(Delivery.objects.filter(run=run).values_list("recipient__email", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_run_mails_the_lists_confirmed_members_at_run_time_each_once(
    user, make_mailing, smtp_sink
):
    ada, bob, cy, dee = recipients(user, "ada", "bob", "cy", "dee")
    friends = services.list_create(owner=user, name="Friends")
    services.list_add_recipients(user=user, recipient_list=friends, recipient_ids=[ada.pk, bob.pk])
    mailing = make_mailing(user, recipients=[ada])  # ada directly and through the list
    mailing.lists.set([friends])
    # After the mailing was saved: cy joins, bob leaves, dee signs up but has not confirmed.
    services.list_add_recipients(user=user, recipient_list=friends, recipient_ids=[cy.pk])
    services.list_remove_recipients(user=user, recipient_list=friends, recipient_ids=[bob.pk])
    Membership.objects.create(list=friends, recipient=dee, status=Membership.Status.PENDING)

    run = delivery.start_run(mailing=mailing)
    report = delivery.deliver()

    assert queued(run) == {"ada@example.org", "cy@example.org"}
    assert report.sent == 2
    assert smtp_sink.counts == {"ada@example.org": 1, "cy@example.org": 1}


def test_the_audience_is_one_statement_whatever_its_size(user, make_mailing):
    mailing = make_mailing(user, recipients=300)
    big = services.list_create(owner=user, name="Big")
    ids = list(Recipient.objects.filter(owner=user).values_list("pk", flat=True))
    services.list_add_recipients(user=user, recipient_list=big, recipient_ids=ids[:200])
    mailing.lists.set([big])

    with CaptureQueriesContext(connection) as captured:
        run = delivery.start_run(mailing=mailing)
    inserts = [q["sql"] for q in captured if q["sql"].startswith('INSERT INTO "mailing_delivery"')]

    assert len(inserts) == 1
    assert Delivery.objects.filter(run=run).count() == 300


def test_a_mailing_with_only_a_list_sends_and_an_empty_one_is_refused(user, make_mailing):
    mailing = make_mailing(user, recipients=[])
    news = services.list_create(owner=user, name="News")
    mailing.lists.set([news])

    with pytest.raises(delivery.CannotSend, match="no recipients"):
        delivery.start_run(mailing=mailing)

    (ada,) = recipients(user, "ada")
    services.list_add_recipients(user=user, recipient_list=news, recipient_ids=[ada.pk])
    run = delivery.start_run(mailing=mailing)
    assert queued(run) == {"ada@example.org"}


def test_the_count_leaves_out_suppressed_and_pending(user):
    ada, bob, cy = recipients(user, "ada", "bob", "cy")
    news = services.list_create(owner=user, name="News")
    services.list_add_recipients(user=user, recipient_list=news, recipient_ids=[ada.pk, bob.pk])
    Membership.objects.create(list=news, recipient=cy, status=Membership.Status.PENDING)
    Suppression.objects.create(owner=user, email="BOB@example.org", reason="unsubscribed")

    assert audience_count(owner_id=user.pk, list_ids=[news.pk]) == 1
    assert audience_count(owner_id=user.pk, list_ids=[news.pk], recipient_ids=[cy.pk]) == 2
    assert audience_count(owner_id=user.pk, all_recipients=True) == 2


def test_list_names_are_unique_per_owner_whatever_their_case(user, other_user):
    services.list_create(owner=user, name="Friends")
    services.list_create(owner=other_user, name="friends")  # another owner's: fine

    with pytest.raises(ValidationError) as refused:
        services.list_create(owner=user, name="FRIENDS ")

    assert refused.value.message_dict == {"name": ["You already have a list with this name."]}


def test_only_the_owner_adds_their_own_recipients(user, other_user, manager):
    (theirs,) = recipients(other_user, "theirs")
    mine = services.list_create(owner=user, name="Mine")

    with pytest.raises(ValidationError):
        services.list_add_recipients(user=user, recipient_list=mine, recipient_ids=[theirs.pk])
    with pytest.raises(PermissionDenied):
        services.list_add_recipients(user=manager, recipient_list=mine, recipient_ids=[])
    assert not Membership.objects.exists()


def test_the_owner_confirms_pending_members_by_adding_them(user):
    (ada,) = recipients(user, "ada")
    news = services.list_create(owner=user, name="News")
    Membership.objects.create(list=news, recipient=ada, status=Membership.Status.PENDING)

    added = services.list_add_recipients(user=user, recipient_list=news, recipient_ids=[ada.pk])

    membership = Membership.objects.get()
    assert added == 0
    assert membership.status == Membership.Status.CONFIRMED
    assert membership.confirmed_at is not None


def test_lists_pages_create_add_remove_and_delete(user, other_user, client_for):
    client = client_for(user)
    ada, bob, cy = recipients(user, "ada", "bob", "cy")

    created = client.post(reverse("mailing:list_create"), {"name": "Friends", "description": ""})
    friends = RecipientList.objects.get()
    assert created.status_code == 302
    added = client.post(
        reverse("mailing:list_add"),
        {"list": friends.pk, "recipients": [ada.pk, bob.pk]},
        follow=True,
    )
    assert "2 recipients added to “Friends”." in [str(m) for m in added.context["messages"]]
    everyone = client.post(
        reverse("mailing:list_add"), {"list": friends.pk, "all_matching": "on", "q": "c"}
    )
    assert everyone.status_code == 302
    assert set(friends.members.all()) == {ada, bob, cy}

    page = client.get(reverse("mailing:list_detail", args=[friends.pk]))
    assert page.status_code == 200
    assert "3 confirmed members" in page.content.decode()
    client.post(reverse("mailing:list_remove", args=[friends.pk]), {"recipients": [bob.pk]})
    assert set(friends.members.all()) == {ada, cy}

    confirm = client.get(reverse("mailing:list_delete", args=[friends.pk]))
    assert "will be deleted for good" in confirm.content.decode()
    client.post(reverse("mailing:list_delete", args=[friends.pk]))
    assert not RecipientList.objects.exists()
    assert Recipient.objects.filter(owner=user).count() == 3  # recipients stay


def test_another_users_list_answers_404(user, other_user, client_for):
    theirs = services.list_create(owner=other_user, name="Theirs")
    client = client_for(user)

    for name in ("list_detail", "list_update", "list_delete"):
        assert client.get(reverse(f"mailing:{name}", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("mailing:list_remove", args=[theirs.pk])).status_code == 404
    listing = client.get(reverse("mailing:list_list")).content.decode()
    assert "Theirs" not in listing


def test_the_lists_page_counts_members_without_a_query_per_list(user, client_for):
    client = client_for(user)
    people = recipients(user, *[f"p{i}" for i in range(5)])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("mailing:list_list")).status_code == 200
        return len(captured)

    services.list_create(owner=user, name="L0")
    one = queries()
    for i in range(1, 8):
        lst = services.list_create(owner=user, name=f"L{i}")
        services.list_add_recipients(
            user=user, recipient_list=lst, recipient_ids=[p.pk for p in people]
        )
    assert queries() == one
    assert ">5<" in client.get(reverse("mailing:list_list")).content.decode()


def test_mailing_pages_show_the_lists_a_mailing_targets(user, client_for, make_mailing):
    mailing = make_mailing(user, recipients=2)
    news = services.list_create(owner=user, name="News <b>")
    mailing.lists.set([news])
    client = client_for(user)

    listing = client.get(reverse("mailing:mailing_list")).content.decode()
    detail = client.get(reverse("mailing:mailing_detail", args=[mailing.pk])).content.decode()

    assert "+ 1 list" in listing
    assert "News &lt;b&gt;" in detail and "<b>" not in detail.split("mailing-lists")[1][:200]


def test_the_lists_pages_and_the_import_speak_russian(make_user, client_for):
    owner = make_user("olga@example.com", language="ru")
    client = client_for(owner)
    services.list_create(owner=owner, name="Друзья")

    lists = client.get(reverse("mailing:list_list")).content.decode()
    refused = client.post(
        reverse("mailing:recipient_import"),
        {"file": SimpleUploadedFile("a.csv", "имя\nОльга\n".encode())},
    )

    assert "Новый список" in lists and "Друзья" in lists
    assert (
        "Первая строка должна содержать названия столбцов"
        in (refused.context["form"].errors["file"][0])
    )


def test_a_list_is_renamed_and_a_taken_name_is_an_error_on_the_field(user, client_for):
    client = client_for(user)
    services.list_create(owner=user, name="Friends")
    family = services.list_create(owner=user, name="Family")
    url = reverse("mailing:list_update", args=[family.pk])

    form = client.get(url)
    taken = client.post(url, {"name": "FRIENDS", "description": ""})
    renamed = client.post(url, {"name": "Kin", "description": "Close ones", "is_public": "on"})

    assert form.status_code == 200 and 'value="Family"' in form.content.decode()
    assert taken.context["form"].errors["name"] == ["You already have a list with this name."]
    assert renamed.status_code == 302
    family.refresh_from_db()
    assert (family.name, family.description, family.is_public) == ("Kin", "Close ones", True)
    assert len(family.public_key) >= 20


def test_a_suppressed_list_member_is_skipped_not_sent(user, make_mailing):
    ada, bob = recipients(user, "ada", "bob")
    news = services.list_create(owner=user, name="News")
    services.list_add_recipients(user=user, recipient_list=news, recipient_ids=[ada.pk, bob.pk])
    Suppression.objects.create(owner=user, email="BOB@example.org", reason="unsubscribed")
    mailing = make_mailing(user, recipients=[])
    mailing.lists.set([news])

    run = delivery.start_run(mailing=mailing)

    states = dict(Delivery.objects.filter(run=run).values_list("recipient__email", "state"))
    assert states == {"ada@example.org": Delivery.State.PENDING, "bob@example.org": "skipped"}
