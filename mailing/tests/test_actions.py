"""Send now, stop, schedule, manager disable and owner block, through the web pages."""

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from mailing import delivery, selectors
from mailing.models import Attempt, Delivery, Mailing, Run

CANCELLED = Delivery.State.CANCELLED


def post(client, name: str, mailing: Mailing, data: dict | None = None):
    return client.post(reverse(f"mailing:{name}", args=[mailing.pk]), data or {}, follow=True)


def flash(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.mark.django_db
def test_send_now_queues_a_run_and_returns_before_any_mail_is_sent(
    user, client_for, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=3, first_send_at=timezone.now() + timedelta(days=1))

    response = post(client_for(user), "mailing_send", mailing)

    assert response.status_code == 200
    assert "Sending to 3 recipients has started." in flash(response)
    assert smtp_sink.total == 0  # the page came back; the scheduler delivers
    run = Run.objects.get(mailing=mailing)
    assert run.trigger == Run.Trigger.MANUAL
    assert run.deliveries.filter(state=Delivery.State.PENDING).count() == 3
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.LAUNCHED
    assert mailing.next_send_at is None  # a one-off's one run is this one


@pytest.mark.django_db
def test_send_now_twice_while_sending_is_refused(user, client_for, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=2)
    client = client_for(user)
    post(client, "mailing_send", mailing)

    response = post(client, "mailing_send", mailing)

    assert "This mailing is already being sent." in flash(response)
    assert Run.objects.filter(mailing=mailing).count() == 1


@pytest.mark.django_db
def test_the_progress_endpoint_reports_the_latest_run(
    user, client_for, make_mailing, smtp_sink, settings
):
    settings.MAILING_SENDER_CONNECTIONS = 1
    mailing = make_mailing(user, recipients=4)
    smtp_sink.script(mailing.recipients.order_by("email").first().email, "550")
    client = client_for(user)
    post(client, "mailing_send", mailing)
    url = reverse("mailing:mailing_progress", args=[mailing.pk])

    before = client.get(url).json()
    delivery.deliver()
    delivery.finish_completed()
    after = client.get(url).json()

    assert (before["pending"], before["percent"], before["running"]) == (4, 0, True)
    assert (after["sent"], after["failed"], after["pending"]) == (3, 1, 0)
    assert (after["percent"], after["running"]) == (100, False)
    # The run's row in the runs table, as the page's script keeps it in step with the bar.
    [run] = selectors.recent_runs(mailing=mailing)
    figures: Any = run  # annotated by the selector
    assert before["run"] == {
        "id": run.pk,
        "sent": 0,
        "failed": 0,
        "skipped": 0,
        "total": 4,
        "finished": None,
    }
    assert (after["run"]["sent"], after["run"]["failed"], after["run"]["total"]) == (
        figures.sent,
        figures.failed,
        figures.total,
    )
    assert after["run"]["finished"] == f"{timezone.localtime(run.finished_at):%Y-%m-%d %H:%M}"


@pytest.mark.django_db
def test_stop_cancels_every_pending_delivery_with_a_recorded_reason(
    user, client_for, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=3, periodicity=Mailing.Periodicity.DAILY)
    delivery.start_due_runs()

    response = post(client_for(user), "mailing_stop", mailing)

    assert "Mailing stopped; 3 queued messages cancelled." in flash(response)
    assert Delivery.objects.filter(run__mailing=mailing, state=CANCELLED).count() == 3
    attempts = Attempt.objects.filter(mailing=mailing)
    assert [a.server_response for a in attempts] == ["Not sent: stopped by the owner"] * 3
    assert {a.status for a in attempts} == {Attempt.Status.FAILURE}
    mailing.refresh_from_db()
    assert (mailing.status, mailing.next_send_at) == (Mailing.Status.FINISHED, None)
    assert Run.objects.get(mailing=mailing).finished_at is not None
    # The marker that picked the cancelled rows is not left in the live-claims index.
    assert not Delivery.objects.filter(run__mailing=mailing, claim_token__isnull=False).exists()
    assert delivery.deliver().attempted == 0
    assert smtp_sink.total == 0


@pytest.mark.django_db
def test_a_sender_holding_claims_hands_them_back_when_the_run_is_stopped(
    user, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=3)
    run = delivery.start_run(mailing=mailing)
    claims = delivery.claim_batch(limit=10, lease_seconds=300)
    delivery.cancel_runs(runs=Run.objects.filter(pk=run.pk), reason="stopped by the owner")
    assert Delivery.objects.filter(run=run, state=Delivery.State.CLAIMED).count() == 3

    delivery.deliver(claims=claims)

    assert smtp_sink.total == 0
    assert Delivery.objects.filter(run=run, state=CANCELLED).count() == 3
    assert Attempt.objects.filter(run=run, server_response__contains="stopped").count() == 3
    assert Run.objects.get(pk=run.pk).finished_at is not None


@pytest.mark.django_db(transaction=True)  # caches are renewed when writes commit
def test_the_mailing_list_stops_showing_sending_once_a_sender_hands_back_a_stopped_run(
    user, client_for, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=3)
    run = delivery.start_run(mailing=mailing)
    claims = delivery.claim_batch(limit=10, lease_seconds=300)  # a sender holds them
    client = client_for(user)
    post(client, "mailing_stop", mailing)
    list_url = reverse("mailing:mailing_list")
    assert ">sending</span>" in client.get(list_url).content.decode()  # still open, cached

    delivery.deliver(claims=claims)

    assert Run.objects.get(pk=run.pk).finished_at is not None
    assert ">sending</span>" not in client.get(list_url).content.decode()


@pytest.mark.django_db
def test_schedule_sets_the_next_send_time(user, client_for, make_mailing):
    mailing = make_mailing(user, recipients=1, periodicity=Mailing.Periodicity.WEEKLY)
    when = (timezone.localtime() + timedelta(days=2)).replace(second=0, microsecond=0)

    response = post(
        client_for(user), "mailing_schedule", mailing, {"send_at": when.strftime("%Y-%m-%dT%H:%M")}
    )

    assert f"Next send set to {when:%Y-%m-%d %H:%M}." in flash(response)
    mailing.refresh_from_db()
    assert mailing.next_send_at == when
    assert mailing.schedule_anchor == when


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("offset", "error"),
    [
        (timedelta(hours=-1), "Choose a time in the future."),
        (timedelta(days=60), "before the mailing's end"),
    ],
)
def test_schedule_refuses_past_times_and_times_after_the_end(
    user, client_for, make_mailing, offset, error
):
    mailing = make_mailing(user, recipients=1)
    before = mailing.next_send_at
    when = timezone.localtime() + offset

    response = post(
        client_for(user), "mailing_schedule", mailing, {"send_at": when.strftime("%Y-%m-%dT%H:%M")}
    )

    assert response.status_code == 400  # the mailing page again, the error under the field
    assert any(error in text for text in response.context["schedule_form"].errors["send_at"])
    mailing.refresh_from_db()
    assert mailing.next_send_at == before


@pytest.mark.django_db
def test_a_manager_disabling_a_mailing_cancels_its_queue_and_keeps_its_plan(
    user, manager, client_for, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=2)
    delivery.start_run(mailing=mailing)

    response = post(client_for(manager), "mailing_disable", mailing)

    assert response.status_code == 200
    mailing.refresh_from_db()
    assert mailing.is_disabled and mailing.disabled_by == manager
    # Not finished: Enable gives it back (test_pause.py).
    assert mailing.status == Mailing.Status.LAUNCHED
    reasons = set(Attempt.objects.filter(mailing=mailing).values_list("server_response", flat=True))
    assert reasons == {"Not sent: disabled by a manager"}
    assert delivery.deliver().attempted == 0


@pytest.mark.django_db
def test_blocking_a_user_holds_everything_of_theirs(
    user, manager, client_for, make_mailing, smtp_sink
):
    running = make_mailing(user, recipients=2)
    delivery.start_run(mailing=running)
    later = make_mailing(user, recipients=2, first_send_at=timezone.now() + timedelta(days=1))

    client_for(manager).post(reverse("users:user_block", args=[user.pk]))

    user.refresh_from_db()
    assert user.is_blocked
    running.refresh_from_db()
    # Held, not finished: nothing is cancelled, and unblocking sends it (test_pause.py).
    assert running.status == Mailing.Status.LAUNCHED
    assert not Attempt.objects.filter(mailing=running).exists()
    # One that never started waits too, and nothing of a blocked owner starts.
    later.refresh_from_db()
    assert later.status == Mailing.Status.CREATED
    assert delivery.start_due_runs(now=timezone.now() + timedelta(days=2)) == []
    assert delivery.deliver().attempted == 0
    assert smtp_sink.total == 0


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["mailing_send", "mailing_stop", "mailing_schedule"])
def test_only_the_owner_may_send_stop_or_schedule(
    user, other_user, manager, client_for, make_mailing, action
):
    mailing = make_mailing(user, recipients=1)
    url = reverse(f"mailing:{action}", args=[mailing.pk])
    data = {"send_at": (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")}

    assert client_for(other_user).post(url, data).status_code == 404
    assert client_for(manager).post(url, data).status_code == 403
    assert not Run.objects.filter(mailing=mailing).exists()
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.CREATED
