"""What the dashboard forms refuse, shown next to the field, with nothing saved."""

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import RestrictedError
from django.urls import reverse
from django.utils import timezone

from core.views import show_errors
from mailing import services
from mailing.forms import RecipientForm
from mailing.models import Mailing, Message, Recipient
from mailing.services import DUPLICATE_EMAIL

pytestmark = pytest.mark.django_db

FORMAT = "%Y-%m-%dT%H:%M"


def field_errors(response, field: str) -> list[str]:
    return list(response.context["form"].errors.get(field, []))


def mailing_data(message, recipients, *, first=None, end=None, **extra) -> dict:
    first = first or timezone.localtime() + timedelta(hours=1)
    end = end or first + timedelta(days=7)
    return {
        "message": message.pk,
        "recipients": [r.pk for r in recipients],
        "first_send_at": first.strftime(FORMAT),
        "end_at": end.strftime(FORMAT),
        "periodicity": "weekly",
        **extra,
    }


def test_a_recipient_address_is_unique_per_owner_whatever_its_case(user, client_for):
    Recipient.objects.create(owner=user, email="Ada@Example.org", full_name="Ada")

    response = client_for(user).post(
        reverse("mailing:recipient_create"), {"email": "ada@example.ORG", "full_name": "Ada again"}
    )

    assert response.status_code == 200
    assert field_errors(response, "email") == [DUPLICATE_EMAIL]
    assert (
        'id="id_email_error"' in response.content.decode()
        or "is-invalid" in response.content.decode()
    )
    assert Recipient.objects.filter(owner=user).count() == 1


@pytest.mark.parametrize(
    ("saved", "typed"),
    [
        ("Ada@Example.org", "ada@example.ORG"),
        # KELVIN SIGN: lower() makes it "k", upper() leaves it as it is.
        ("kate@example.org", "\u212aate@example.org"),
        # LATIN SMALL LETTER LONG S: upper() makes it "S", lower() leaves it as it is.
        ("sam@example.org", "\u017fam@example.org"),
    ],
)
def test_the_form_refuses_exactly_the_addresses_the_database_refuses(
    user, client_for, settings, saved, typed
):
    # Addresses outside ASCII before "@" are taken only with a relay that offers SMTPUTF8
    # (test_international.py); with one, the case rule is the database's.
    settings.MAILING_SMTPUTF8 = True
    Recipient.objects.create(owner=user, email=saved, full_name="Saved")
    # The unique constraint compares lower(email); ask the database what it makes of the pair
    # (PostgreSQL folds the case of every letter, SQLite of ASCII letters only).
    with connection.cursor() as cursor:
        cursor.execute("SELECT LOWER(%s) = LOWER(%s)", [saved, typed])
        same_address = bool(cursor.fetchone()[0])

    response = client_for(user).post(
        reverse("mailing:recipient_create"), {"email": typed, "full_name": "Typed"}
    )

    if same_address:
        assert response.status_code == 200
        assert field_errors(response, "email") == [DUPLICATE_EMAIL]
        assert Recipient.objects.filter(owner=user).count() == 1
    else:
        assert response.status_code == 302
        assert Recipient.objects.filter(owner=user).count() == 2


def test_an_address_saved_after_the_form_was_checked_is_a_form_error_not_a_crash(user):
    form = RecipientForm({"email": "ada@example.org", "full_name": "Ada"})
    assert form.is_valid()
    # Meanwhile another request (a second tab, a double click) saves the same address.
    Recipient.objects.create(owner=user, email="ADA@example.org", full_name="Other tab")

    with pytest.raises(ValidationError) as refused:
        services.recipient_create(owner=user, **form.cleaned_data)
    show_errors(form, refused.value)  # what the view does with the service's refusal

    assert form.errors["email"] == [DUPLICATE_EMAIL]
    # The transaction is still usable, and holds the other tab's row only.
    assert list(Recipient.objects.values_list("full_name", flat=True)) == ["Other tab"]


def test_two_owners_may_have_the_same_recipient_address(user, other_user, client_for):
    Recipient.objects.create(owner=user, email="ada@example.org", full_name="Ada")

    response = client_for(other_user).post(
        reverse("mailing:recipient_create"), {"email": "ADA@example.org", "full_name": "Ada"}
    )

    assert response.status_code == 302
    assert Recipient.objects.filter(email__iexact="ada@example.org").count() == 2


def test_editing_a_recipient_keeps_its_own_address(user, client_for):
    recipient = Recipient.objects.create(owner=user, email="ada@example.org", full_name="Ada")

    response = client_for(user).post(
        reverse("mailing:recipient_update", args=[recipient.pk]),
        {"email": "ada@example.org", "full_name": "Ada Lovelace"},
    )

    assert response.status_code == 302
    recipient.refresh_from_db()
    assert recipient.full_name == "Ada Lovelace"


def test_an_invalid_address_is_refused(user, client_for):
    response = client_for(user).post(
        reverse("mailing:recipient_create"), {"email": "not-an-address", "full_name": "X"}
    )
    assert field_errors(response, "email") == ["Enter a valid email address."]


@pytest.mark.parametrize(
    "subject", ["Hello\nBcc: victim@example.org", "Hello\rthere", "A\u2028B", "Bell\x07"]
)
def test_a_subject_with_a_line_break_is_refused(user, client_for, subject):
    response = client_for(user).post(
        reverse("mailing:message_create"), {"subject": subject, "body": "Body"}
    )

    assert field_errors(response, "subject") == ["The subject must be a single line of plain text."]
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "name",
    [
        "Ada\r\nBcc: victim@example.org",
        "Ada\nLovelace",
        "Ada\x0bLovelace",
        "Ada\x85Lovelace",
        "Ada\u2028Lovelace",
        "Ada\tLovelace",
        "Ada\x1bLovelace",
    ],
)
def test_a_recipient_name_with_a_line_break_or_control_character_is_refused(user, client_for, name):
    # The name goes into the To header of every mail sent to this recipient.
    response = client_for(user).post(
        reverse("mailing:recipient_create"), {"email": "ada@example.org", "full_name": name}
    )

    assert response.status_code == 200
    assert field_errors(response, "full_name") == ["The name must be a single line of plain text."]
    assert 'id="id_full_name_error"' in response.content.decode()
    assert not Recipient.objects.exists()


def test_an_edited_recipient_name_is_checked_too(user, client_for):
    recipient = Recipient.objects.create(owner=user, email="ada@example.org", full_name="Ada")

    response = client_for(user).post(
        reverse("mailing:recipient_update", args=[recipient.pk]),
        {"email": "ada@example.org", "full_name": "Ada\r\nBcc: victim@example.org"},
    )

    assert field_errors(response, "full_name") == ["The name must be a single line of plain text."]
    recipient.refresh_from_db()
    assert recipient.full_name == "Ada"


def test_names_in_other_scripts_and_with_punctuation_are_accepted(user, client_for):
    response = client_for(user).post(
        reverse("mailing:recipient_create"),
        {"email": "zoe@example.org", "full_name": "Zoë O'Brien-Łukasiewicz, 山田"},
    )

    assert response.status_code == 302
    assert Recipient.objects.get().full_name == "Zoë O'Brien-Łukasiewicz, 山田"


def test_the_end_must_come_after_the_first_send(user, client_for, make_mailing):
    message = Message.objects.create(owner=user, subject="S", body="B")
    recipient = Recipient.objects.create(owner=user, email="a@example.org", full_name="A")
    first = timezone.localtime() + timedelta(days=2)

    response = client_for(user).post(
        reverse("mailing:mailing_create"),
        mailing_data(message, [recipient], first=first, end=first - timedelta(days=1)),
    )

    assert field_errors(response, "end_at") == ["The end must come after the first send."]
    assert not Mailing.objects.exists()


def test_a_new_mailing_cannot_end_in_the_past(user, client_for):
    message = Message.objects.create(owner=user, subject="S", body="B")
    recipient = Recipient.objects.create(owner=user, email="a@example.org", full_name="A")
    past = timezone.localtime() - timedelta(days=3)

    response = client_for(user).post(
        reverse("mailing:mailing_create"),
        mailing_data(message, [recipient], first=past, end=past + timedelta(days=1)),
    )

    assert field_errors(response, "end_at") == ["The end is already in the past."]


def test_another_users_message_or_recipient_ids_are_refused(user, other_user, client_for):
    mine = Message.objects.create(owner=user, subject="Mine", body="B")
    my_recipient = Recipient.objects.create(owner=user, email="a@example.org", full_name="A")
    theirs = Message.objects.create(owner=other_user, subject="Theirs", body="B")
    their_recipient = Recipient.objects.create(
        owner=other_user, email="b@example.org", full_name="B"
    )
    client = client_for(user)

    wrong_message = client.post(
        reverse("mailing:mailing_create"), mailing_data(theirs, [my_recipient])
    )
    wrong_recipient = client.post(
        reverse("mailing:mailing_create"), mailing_data(mine, [my_recipient, their_recipient])
    )

    assert field_errors(wrong_message, "message") == [
        "Select a valid choice. That choice is not one of the available choices."
    ]
    assert field_errors(wrong_recipient, "recipients") == [
        f"Select a valid choice. {their_recipient.pk} is not one of the available choices."
    ]
    assert not Mailing.objects.exists()
    # The form only ever offers the user's own rows.
    page = client.get(reverse("mailing:mailing_create")).content.decode()
    assert "Mine" in page and "Theirs" not in page and "b@example.org" not in page


def picked(response, name: str = "recipients") -> tuple[list[str], list[str]]:
    """The ids a picker holds (its hidden input) and the labels of its chips."""
    soup = BeautifulSoup(response.content, "html.parser")
    value = soup.find("input", id=f"id_{name}")
    assert value is not None and value["type"] == "hidden" and value["name"] == name
    chips = value.find_parent(attrs={"data-picker": True}).select("[data-picker-chosen] li")
    ids = [pk for pk in str(value["value"]).split(",") if pk]
    return ids, [chip.get_text(strip=True) for chip in chips]


def test_the_recipient_picker_shows_the_choice_and_keeps_it(
    user, other_user, client_for, make_mailing
):
    ada, bob, cy = (
        Recipient.objects.create(owner=user, email=f"{name}@example.org", full_name=name.title())
        for name in ("ada", "bob", "cy")
    )
    Recipient.objects.create(owner=other_user, email="theirs@example.org", full_name="Theirs")
    mailing = make_mailing(user, recipients=[ada, cy])
    client = client_for(user)

    edit = client.get(reverse("mailing:mailing_update", args=[mailing.pk]))
    # A refused form shows the picker again with what was picked, not what is stored.
    refused = client.post(
        reverse("mailing:mailing_update", args=[mailing.pk]),
        mailing_data(mailing.message, [bob], end=timezone.localtime() - timedelta(days=1)),
    )

    def label(recipient: Recipient) -> str:
        return f"{recipient.full_name} <{recipient.email}>"

    assert sorted(picked(edit)[0]) == sorted([str(ada.pk), str(cy.pk)])
    assert sorted(picked(edit)[1]) == [label(ada), label(cy)]
    # Only what is chosen is on the page: the others are found by searching.
    assert "bob@example.org" not in edit.content.decode()
    assert field_errors(refused, "end_at")
    assert picked(refused) == ([str(bob.pk)], [label(bob)])


def test_a_mailing_needs_recipients_or_all_of_them(user, client_for):
    message = Message.objects.create(owner=user, subject="S", body="B")
    recipients = [
        Recipient.objects.create(owner=user, email=f"r{i}@example.org", full_name=f"R{i}")
        for i in range(3)
    ]
    client = client_for(user)

    empty = client.post(reverse("mailing:mailing_create"), mailing_data(message, []))
    everyone = client.post(
        reverse("mailing:mailing_create"), mailing_data(message, [], all_recipients="on")
    )

    assert field_errors(empty, "recipients") == [
        "Choose at least one recipient or list, or send to all your recipients."
    ]
    assert everyone.status_code == 302
    mailing = Mailing.objects.get()
    assert set(mailing.recipients.all()) == set(recipients)
    assert mailing.next_send_at == mailing.first_send_at == mailing.schedule_anchor
    assert mailing.status == Mailing.Status.CREATED


def test_a_message_used_by_a_mailing_cannot_be_deleted(user, client_for, make_mailing):
    mailing = make_mailing(user, recipients=1)

    response = client_for(user).post(
        reverse("mailing:message_delete", args=[mailing.message_id]), follow=True
    )

    messages = [str(m) for m in response.context["messages"]]
    assert messages == [f"This message is used by mailing #{mailing.pk}; delete those first."]
    assert Message.objects.filter(pk=mailing.message_id).exists()


def test_the_database_keeps_a_message_that_a_mailing_uses(user, make_mailing):
    # Mailing.message is RESTRICT: deleting the message on its own (not through the service,
    # which refuses first) is refused too; deleting it with its mailings is not.
    mailing = make_mailing(user, recipients=1)

    with pytest.raises(RestrictedError):
        mailing.message.delete()

    assert Message.objects.filter(pk=mailing.message_id).exists()
