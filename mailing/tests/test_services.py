"""Every campaign service called as a shell, an import or a sign-up page would call it: plain
values in, no form; what the rules refuse comes out as PermissionDenied, a ValidationError
naming the field, or ActionRefused, and nothing is written."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from mailing import delivery, services
from mailing.models import Delivery, Mailing, Message, Recipient, Run

pytestmark = pytest.mark.django_db


def fields_of(refusal: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return refusal.value.message_dict


@pytest.fixture
def blocked(make_user):
    return make_user("blocked@example.com", blocked=True)


# --- Recipients ------------------------------------------------------------------------------


def test_recipient_create_stores_the_values_it_is_given(user):
    recipient = services.recipient_create(
        owner=user, email="  Ada@Example.org ", full_name="Ada Lovelace", comment="Met in 1843"
    )

    stored = Recipient.objects.get(pk=recipient.pk)
    assert (stored.owner, stored.email, stored.full_name, stored.comment) == (
        user,
        "Ada@Example.org",
        "Ada Lovelace",
        "Met in 1843",
    )


def test_recipient_create_names_each_refused_field(user):
    services.recipient_create(owner=user, email="ada@example.org", full_name="Ada")

    with pytest.raises(ValidationError) as taken:
        services.recipient_create(owner=user, email="ADA@example.org", full_name="Again")
    with pytest.raises(ValidationError) as invalid:
        services.recipient_create(owner=user, email="not-an-address", full_name="Bcc\nX")

    assert fields_of(taken) == {"email": [services.DUPLICATE_EMAIL]}
    assert set(fields_of(invalid)) == {"email", "full_name"}
    assert Recipient.objects.filter(owner=user).count() == 1


@pytest.mark.parametrize("who", ["manager", "blocked"])
def test_managers_and_blocked_accounts_cannot_add_recipients(who, request):
    account = request.getfixturevalue(who)

    with pytest.raises(PermissionDenied):
        services.recipient_create(owner=account, email="x@example.org", full_name="X")

    assert not Recipient.objects.exists()


def test_recipient_update_changes_only_what_it_is_given(user, other_user):
    recipient = services.recipient_create(
        owner=user, email="ada@example.org", full_name="Ada", comment="keep me"
    )
    services.recipient_create(owner=user, email="bob@example.org", full_name="Bob")

    services.recipient_update(user=user, recipient=recipient, full_name="Ada Lovelace")
    with pytest.raises(ValidationError) as taken:
        services.recipient_update(user=user, recipient=recipient, email="BOB@example.org")
    with pytest.raises(PermissionDenied):
        services.recipient_update(user=other_user, recipient=recipient, full_name="Stolen")

    stored = Recipient.objects.get(pk=recipient.pk)
    assert (stored.email, stored.full_name, stored.comment) == (
        "ada@example.org",
        "Ada Lovelace",
        "keep me",
    )
    assert fields_of(taken) == {"email": [services.DUPLICATE_EMAIL]}


def test_recipient_delete_is_refused_to_others_and_while_a_message_to_them_is_on_the_wire(
    user, other_user, make_mailing
):
    mailing = make_mailing(user, recipients=1)
    [recipient] = mailing.recipients.all()
    run = delivery.start_run(mailing=mailing)
    Delivery.objects.filter(run=run).update(state=Delivery.State.CLAIMED)

    with pytest.raises(PermissionDenied):
        services.recipient_delete(user=other_user, recipient=recipient)
    with pytest.raises(services.ActionRefused, match="being sent right now"):
        services.recipient_delete(user=user, recipient=recipient)
    assert Recipient.objects.filter(pk=recipient.pk).exists()

    Delivery.objects.filter(run=run).update(state=Delivery.State.SENT)
    services.recipient_delete(user=user, recipient=recipient)
    assert not Recipient.objects.filter(pk=recipient.pk).exists()


# --- Messages --------------------------------------------------------------------------------


def test_message_create_and_update_take_plain_values(user):
    message = services.message_create(owner=user, subject="Spring", body="Hello")

    services.message_update(user=user, message=message, body="Hello again")

    stored = Message.objects.get(pk=message.pk)
    assert (stored.owner, stored.subject, stored.body) == (user, "Spring", "Hello again")


def test_message_services_name_the_refused_field_and_refuse_others(user, other_user, manager):
    with pytest.raises(ValidationError) as header:
        services.message_create(owner=user, subject="Hi\nBcc: victim@example.org", body="B")
    with pytest.raises(PermissionDenied):
        services.message_create(owner=manager, subject="Hi", body="B")
    message = services.message_create(owner=user, subject="Hi", body="B")
    with pytest.raises(PermissionDenied):
        services.message_update(user=other_user, message=message, subject="Theirs now")
    with pytest.raises(PermissionDenied):
        services.message_delete(user=other_user, message=message)

    assert list(fields_of(header)) == ["subject"]
    assert list(Message.objects.values_list("subject", flat=True)) == ["Hi"]


def test_a_message_is_not_edited_while_it_is_sent_nor_deleted_while_in_use(user, make_mailing):
    mailing = make_mailing(user, recipients=1)
    delivery.start_run(mailing=mailing)

    with pytest.raises(services.ActionRefused, match="being sent right now"):
        services.message_update(user=user, message=mailing.message, subject="Changed")
    with pytest.raises(services.ActionRefused, match=f"used by mailing #{mailing.pk}"):
        services.message_delete(user=user, message=mailing.message)

    assert Message.objects.get(pk=mailing.message_id).subject == "Hello"


# --- Mailings --------------------------------------------------------------------------------


@pytest.fixture
def material(user):
    message = services.message_create(owner=user, subject="News", body="Hello")
    readers = [
        services.recipient_create(owner=user, email=f"r{i}@example.org", full_name=f"R{i}")
        for i in range(3)
    ]
    return message, readers


def test_mailing_create_stores_the_plan_and_the_recipients(user, material):
    message, readers = material
    first = timezone.now() + timedelta(days=1)

    chosen = services.mailing_create(
        owner=user,
        message=message,
        recipients=readers[:2],
        first_send_at=first,
        end_at=first + timedelta(days=30),
        periodicity="weekly",
    )
    everyone = services.mailing_create(
        owner=user,
        message=message,
        all_recipients=True,
        first_send_at=first,
        end_at=first + timedelta(days=1),
    )

    chosen.refresh_from_db()
    assert (chosen.schedule_anchor, chosen.next_send_at, chosen.status) == (
        first,
        first,
        Mailing.Status.CREATED,
    )
    assert set(chosen.recipients.all()) == set(readers[:2])
    assert everyone.periodicity == Mailing.Periodicity.ONCE
    assert set(everyone.recipients.all()) == set(readers)


def test_mailing_create_names_every_refused_field_at_once(user, other_user, material):
    message, _ = material
    theirs = services.message_create(owner=other_user, subject="Theirs", body="B")
    their_reader = services.recipient_create(owner=other_user, email="t@example.org", full_name="T")
    first = timezone.now() + timedelta(days=1)

    with pytest.raises(ValidationError) as nothing_right:
        services.mailing_create(
            owner=user,
            message=theirs,
            recipients=[their_reader],
            first_send_at=first,
            end_at=first - timedelta(hours=1),
            periodicity="hourly",
        )
    with pytest.raises(ValidationError) as nobody:
        services.mailing_create(
            owner=user, message=message, first_send_at=first, end_at=first + timedelta(days=1)
        )
    past = timezone.now() - timedelta(days=3)
    with pytest.raises(ValidationError) as over:
        services.mailing_create(
            owner=user,
            message=message,
            all_recipients=True,
            first_send_at=past,
            end_at=past + timedelta(days=1),
        )

    assert set(fields_of(nothing_right)) == {"message", "recipients", "end_at", "periodicity"}
    assert fields_of(nobody) == {
        "recipients": ["Choose at least one recipient or list, or send to all your recipients."]
    }
    assert fields_of(over) == {"end_at": ["The end is already in the past."]}
    assert not Mailing.objects.exists()


@pytest.mark.parametrize("who", ["manager", "blocked"])
def test_managers_and_blocked_accounts_cannot_create_mailings(who, request, make_mailing):
    account = request.getfixturevalue(who)
    message = Message.objects.create(owner=account, subject="S", body="B")
    first = timezone.now() + timedelta(days=1)

    with pytest.raises(PermissionDenied):
        services.mailing_create(
            owner=account,
            message=message,
            all_recipients=True,
            first_send_at=first,
            end_at=first + timedelta(days=1),
        )

    assert not Mailing.objects.exists()


def test_mailing_update_writes_what_it_is_given_and_plans_again_only_for_a_new_plan(
    user, make_mailing
):
    first = timezone.now() + timedelta(days=1)
    mailing = make_mailing(user, recipients=2, first_send_at=first)
    later = first + timedelta(days=2)

    services.mailing_update(user=user, mailing=mailing, end_at=first + timedelta(days=60))
    kept = Mailing.objects.get(pk=mailing.pk)
    services.mailing_update(user=user, mailing=mailing, first_send_at=later, periodicity="daily")
    moved = Mailing.objects.get(pk=mailing.pk)

    assert kept.end_at == first + timedelta(days=60)
    assert (kept.schedule_anchor, kept.next_send_at, kept.periodicity) == (first, first, "once")
    assert (moved.schedule_anchor, moved.next_send_at, moved.periodicity) == (
        later,
        later,
        "daily",
    )
    assert moved.recipients.count() == 2  # not given: left as they were


def test_mailing_update_refusals(user, other_user, make_mailing):
    mailing = make_mailing(user, recipients=1, first_send_at=timezone.now() + timedelta(days=1))
    before = Mailing.objects.filter(pk=mailing.pk).values().get()

    with pytest.raises(PermissionDenied):
        services.mailing_update(user=other_user, mailing=mailing, periodicity="daily")
    with pytest.raises(ValidationError) as nobody:
        services.mailing_update(user=user, mailing=mailing, recipients=[])
    with pytest.raises(ValidationError) as backwards:
        services.mailing_update(
            user=user, mailing=mailing, end_at=mailing.first_send_at - timedelta(days=1)
        )
    delivery.start_run(mailing=mailing)
    with pytest.raises(services.ActionRefused, match="being sent right now"):
        services.mailing_update(user=user, mailing=mailing, periodicity="daily")

    assert list(fields_of(nobody)) == ["recipients"]
    assert fields_of(backwards) == {"end_at": ["The end must come after the first send."]}
    after = Mailing.objects.filter(pk=mailing.pk).values().get()
    assert (after["periodicity"], after["end_at"]) == (before["periodicity"], before["end_at"])


def test_mailing_update_of_a_deleted_mailing_is_refused(user, make_mailing):
    mailing = make_mailing(user, recipients=1)
    Mailing.objects.filter(pk=mailing.pk).delete()

    with pytest.raises(services.ActionRefused, match="deleted meanwhile"):
        services.mailing_update(user=user, mailing=mailing, periodicity="daily")


def test_mailing_delete_is_refused_to_a_manager_and_while_sending(user, manager, make_mailing):
    mailing = make_mailing(user, recipients=1)

    with pytest.raises(PermissionDenied):
        services.mailing_delete(user=manager, mailing=mailing)
    delivery.start_run(mailing=mailing)
    with pytest.raises(services.ActionRefused, match="stop it first"):
        services.mailing_delete(user=user, mailing=mailing)
    assert Mailing.objects.filter(pk=mailing.pk).exists()

    services.mailing_stop(user=user, mailing=mailing)
    services.mailing_delete(user=user, mailing=mailing)
    assert not Mailing.objects.filter(pk=mailing.pk).exists()


# --- Actions ---------------------------------------------------------------------------------


def test_send_now_queues_a_run_for_the_owner_only(user, manager, other_user, make_mailing):
    mailing = make_mailing(user, recipients=2)

    for refused in (manager, other_user):
        with pytest.raises(PermissionDenied):
            services.mailing_send_now(user=refused, mailing=mailing)
    run = services.mailing_send_now(user=user, mailing=mailing)

    assert Run.objects.filter(mailing=mailing).get() == run
    assert run.deliveries.count() == 2


def test_schedule_names_the_refused_time(user, other_user, make_mailing):
    mailing = make_mailing(user, recipients=1, first_send_at=timezone.now() + timedelta(days=1))

    with pytest.raises(ValidationError) as past:
        services.mailing_schedule(
            user=user, mailing=mailing, send_at=timezone.now() - timedelta(hours=1)
        )
    with pytest.raises(ValidationError) as too_late:
        services.mailing_schedule(user=user, mailing=mailing, send_at=mailing.end_at)
    with pytest.raises(PermissionDenied):
        services.mailing_schedule(
            user=other_user, mailing=mailing, send_at=timezone.now() + timedelta(days=2)
        )
    when = timezone.now() + timedelta(days=2)
    scheduled = services.mailing_schedule(user=user, mailing=mailing, send_at=when)

    assert fields_of(past) == {"send_at": ["Choose a time in the future."]}
    assert fields_of(too_late) == {"send_at": ["Choose a time before the mailing's end."]}
    assert (scheduled.schedule_anchor, scheduled.next_send_at) == (when, when)


def test_stop_cancels_the_queue_once(user, manager, make_mailing):
    mailing = make_mailing(user, recipients=3)
    delivery.start_run(mailing=mailing)

    with pytest.raises(PermissionDenied):
        services.mailing_stop(user=manager, mailing=mailing)
    cancelled = services.mailing_stop(user=user, mailing=mailing)
    with pytest.raises(services.ActionRefused, match="already finished"):
        services.mailing_stop(user=user, mailing=mailing)

    assert cancelled == 3
    assert Mailing.objects.get(pk=mailing.pk).status == Mailing.Status.FINISHED


def test_disable_is_a_managers_action_taken_once(user, manager, make_mailing):
    mailing = make_mailing(user, recipients=1)

    with pytest.raises(PermissionDenied, match="Only managers can disable mailings"):
        services.mailing_disable(manager=user, mailing=mailing)
    services.mailing_disable(manager=manager, mailing=mailing)
    with pytest.raises(services.ActionRefused, match="already disabled"):
        services.mailing_disable(manager=manager, mailing=mailing)

    mailing.refresh_from_db()
    assert mailing.is_disabled and mailing.disabled_by == manager
