"""The mailing lifecycle services under concurrent change: what a manager, the scheduler or
another request commits between the moment a request loaded a mailing and the moment it
writes is neither missed nor overwritten."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mailing import delivery, services
from mailing.forms import MailingForm
from mailing.models import Attempt, DailyStat, Delivery, Mailing, Run
from users import services as user_services
from users.models import User

pytestmark = pytest.mark.django_db

FORMAT = "%Y-%m-%dT%H:%M"


def edit_form(mailing: Mailing, **changes) -> dict:
    """The edit form as the owner posts it: every field as loaded, with `changes`; what the
    form makes of it, as the view hands it to the service."""
    values = {
        "message": mailing.message_id,
        "recipients": list(mailing.recipients.values_list("pk", flat=True)),
        "first_send_at": mailing.first_send_at,
        "end_at": mailing.end_at,
        "periodicity": mailing.periodicity,
        **changes,
    }
    for name in ("first_send_at", "end_at"):
        values[name] = timezone.localtime(values[name]).strftime(FORMAT)
    form = MailingForm(data=values, owner=mailing.owner)
    assert form.is_valid(), form.errors
    form.cleaned_data.pop("start")  # a new mailing's choice: the edit page has no such field
    return form.cleaned_data


def disable(mailing: Mailing) -> None:
    Mailing.objects.filter(pk=mailing.pk).update(is_disabled=True)


def block_owner(mailing: Mailing) -> None:
    User.objects.filter(pk=mailing.owner_id).update(is_blocked=True)


@pytest.mark.parametrize(
    ("meanwhile", "reason"),
    [
        (disable, "A manager has disabled this mailing."),
        (block_owner, "The owner's account is blocked."),
    ],
    ids=["disabled", "owner-blocked"],
)
def test_send_now_sees_a_disable_or_block_committed_after_the_request_loaded_the_mailing(
    user, make_mailing, meanwhile, reason
):
    loaded = Mailing.objects.select_related("owner").get(pk=make_mailing(user).pk)
    meanwhile(loaded)

    with pytest.raises(services.ActionRefused, match=re.escape(reason)):
        services.mailing_send_now(user=user, mailing=loaded)

    assert not Run.objects.filter(mailing=loaded).exists()
    assert Mailing.objects.get(pk=loaded.pk).status == Mailing.Status.CREATED


def test_schedule_sees_a_disable_committed_after_the_request_loaded_the_mailing(user, make_mailing):
    loaded = make_mailing(user)
    before = loaded.next_send_at
    disable(loaded)

    with pytest.raises(services.ActionRefused, match="A manager has disabled this mailing"):
        services.mailing_schedule(
            user=user, mailing=loaded, send_at=timezone.now() + timedelta(days=1)
        )

    assert Mailing.objects.get(pk=loaded.pk).next_send_at == before


def test_an_edit_saved_after_a_manager_disabled_the_mailing_leaves_it_disabled(
    user, manager, make_mailing
):
    mailing = make_mailing(user, recipients=2)
    loaded = Mailing.objects.get(pk=mailing.pk)
    new_end = loaded.end_at + timedelta(days=10)
    form = edit_form(loaded, end_at=new_end)
    services.mailing_disable(manager=manager, mailing=Mailing.objects.get(pk=mailing.pk))

    services.mailing_update(user=user, mailing=loaded, **form)

    mailing.refresh_from_db()
    assert mailing.is_disabled and mailing.disabled_by == manager
    assert mailing.status == Mailing.Status.CREATED  # a disable keeps the plan
    assert mailing.end_at == new_end.replace(second=0, microsecond=0)  # the edit itself is kept


def test_an_edit_is_refused_once_the_scheduler_started_a_run_since_the_page_loaded(
    user, make_mailing
):
    mailing = make_mailing(user, recipients=2)
    loaded = Mailing.objects.get(pk=mailing.pk)
    form = edit_form(loaded, recipients=[*loaded.recipients.values_list("pk", flat=True)])
    assert delivery.start_due_runs()

    with pytest.raises(services.ActionRefused, match="being sent right now"):
        services.mailing_update(user=user, mailing=loaded, **form)

    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.LAUNCHED
    assert mailing.next_send_at is None  # not the page's stale copy written back


def test_editing_anything_but_the_plan_keeps_a_time_set_with_schedule(user, make_mailing):
    mailing = make_mailing(
        user,
        recipients=2,
        periodicity=Mailing.Periodicity.WEEKLY,
        first_send_at=timezone.now() + timedelta(days=1),
    )
    when = (timezone.localtime() + timedelta(days=3)).replace(second=0, microsecond=0)
    services.mailing_schedule(user=user, mailing=mailing, send_at=when)

    loaded = Mailing.objects.get(pk=mailing.pk)
    services.mailing_update(
        user=user, mailing=loaded, **edit_form(loaded, end_at=loaded.end_at + timedelta(days=7))
    )

    mailing.refresh_from_db()
    assert (mailing.schedule_anchor, mailing.next_send_at) == (when, when)


def test_changing_the_first_send_or_the_periodicity_plans_the_schedule_again(user, make_mailing):
    mailing = make_mailing(
        user,
        periodicity=Mailing.Periodicity.WEEKLY,
        first_send_at=timezone.now() + timedelta(days=1),
    )
    services.mailing_schedule(
        user=user, mailing=mailing, send_at=timezone.now() + timedelta(days=3)
    )
    first = (timezone.localtime() + timedelta(days=2)).replace(second=0, microsecond=0)

    loaded = Mailing.objects.get(pk=mailing.pk)
    services.mailing_update(user=user, mailing=loaded, **edit_form(loaded, first_send_at=first))
    mailing.refresh_from_db()
    assert (mailing.schedule_anchor, mailing.next_send_at) == (first, first)

    loaded = Mailing.objects.get(pk=mailing.pk)
    services.mailing_update(user=user, mailing=loaded, **edit_form(loaded, periodicity="daily"))
    mailing.refresh_from_db()
    assert (mailing.schedule_anchor, mailing.next_send_at) == (first, first)
    assert mailing.periodicity == Mailing.Periodicity.DAILY


def test_deleting_a_recipient_records_their_queued_deliveries_as_not_sent(user, make_mailing):
    mailing = make_mailing(user, recipients=2)
    run = delivery.start_run(mailing=mailing)
    leaving, staying = mailing.recipients.order_by("email")

    services.recipient_delete(user=user, recipient=leaving)

    [attempt] = Attempt.objects.filter(mailing=mailing)
    assert (attempt.email, attempt.status, attempt.run_id) == (leaving.email, "failure", run.pk)
    assert attempt.server_response == "Not sent: the recipient was deleted"
    stat = DailyStat.objects.get(mailing=mailing)
    assert (stat.successes, stat.failures) == (0, 1)
    assert Delivery.objects.get(run=run).recipient == staying


def test_blocking_a_user_holds_their_mailings_in_the_same_few_queries_however_many(
    make_user, manager, make_mailing
):
    queries = []
    for count, email in ((1, "few@example.com"), (4, "many@example.com")):
        owner = make_user(email)
        for _ in range(count):
            delivery.start_run(mailing=make_mailing(owner, recipients=2))
        waiting = make_mailing(
            owner, recipients=1, first_send_at=timezone.now() + timedelta(days=1)
        )

        actor = User.objects.get(pk=manager.pk)  # each round loads the manager's permissions
        with CaptureQueriesContext(connection) as captured:
            user_services.user_block(actor=actor, user=owner)

        queries.append(len(captured))
        launched = Mailing.objects.filter(owner=owner).exclude(pk=waiting.pk)
        assert set(launched.values_list("status", flat=True)) == {Mailing.Status.LAUNCHED}
        # Held as they were: the runs stay open, nothing is cancelled.
        assert Run.objects.filter(mailing__owner=owner, finished_at=None).count() == count
        assert not Attempt.objects.filter(mailing__owner=owner).exists()
        # Never started: it stays as it was, and the scheduler passes a blocked owner by.
        waiting.refresh_from_db()
        assert waiting.status == Mailing.Status.CREATED
    assert queries[0] == queries[1]
