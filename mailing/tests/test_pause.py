"""Pause and resume, block and unblock, disable and enable: what is held is given back as it
was. A pause or a block holds the queue (nothing cancelled, nothing failed); a resume goes on
without mailing anyone twice or leaving anyone out; a periodic mailing continues with its next
occurrence, skipping those that fell due while it was held. Real sender processes on the test
database and an SMTP server on loopback."""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mailing import delivery, services
from mailing.models import Attempt, Delivery, Mailing, Run
from users import services as user_services

from .senders import send_mailing, sender_env

WEEK = timedelta(weeks=1)


def wait_until(condition, *, timeout: float = 60.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def states(run: Run) -> Counter:
    return Counter(Delivery.objects.filter(run=run).values_list("state", flat=True))


def flash(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.mark.django_db(transaction=True)
def test_a_pause_mid_run_holds_the_queue_and_resume_mails_everyone_exactly_once(
    user, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=300)
    run = delivery.start_run(mailing=mailing)
    smtp_sink.keep_messages = False
    slow = Delivery.objects.filter(run=run).order_by("pk")[100].recipient.email
    smtp_sink.script(slow, "slow")
    env = sender_env(smtp_sink, MAILING_COMMIT_EVERY="1", MAILING_BATCH_SIZE="20")

    sender = send_mailing(mailing.pk, env, "--connections", "1")
    assert smtp_sink.stalling.wait(timeout=60), "the sender never reached the slow message"
    services.mailing_pause(user=user, mailing=mailing)
    out, err = sender.communicate(timeout=60)

    # The sender finished the message it had in hand and handed back the rest, untried.
    assert sender.returncode == 0, (out, err)
    held = states(run)
    assert set(held) == {"sent", "pending"}, held
    assert held["sent"] == smtp_sink.total < 300
    assert not Attempt.objects.filter(mailing=mailing, status="failure").exists()
    assert Delivery.objects.filter(run=run, state="pending", tries=0).count() == held["pending"]

    # While paused: a tick sends nothing, closes nothing, and Send now is refused.
    assert delivery.deliver().attempted == 0
    delivery.finish_completed()
    assert delivery.start_due_runs() == []
    assert Run.objects.get(pk=run.pk).finished_at is None
    assert Mailing.objects.get(pk=mailing.pk).status == Mailing.Status.LAUNCHED
    with pytest.raises(services.ActionRefused, match="paused"):
        services.mailing_send_now(user=user, mailing=mailing)
    assert smtp_sink.total == held["sent"]

    assert services.mailing_resume(user=user, mailing=mailing) == 0
    report = delivery.deliver(connections=2)

    assert report.sent == held["pending"]
    counts = smtp_sink.counts
    assert len(counts) == 300 and set(counts.values()) == {1}
    assert states(run) == Counter({"sent": 300})
    assert Attempt.objects.filter(mailing=mailing, status="success").count() == 300


@pytest.mark.django_db
def test_occurrences_that_fall_due_during_a_pause_are_skipped_and_the_next_one_sends(
    user, make_mailing, smtp_sink
):
    now = timezone.now()
    weekly = make_mailing(
        user,
        recipients=2,
        periodicity=Mailing.Periodicity.WEEKLY,
        first_send_at=now + timedelta(hours=1),
        end_at=now + 10 * WEEK,
    )
    services.mailing_pause(user=user, mailing=weekly)

    # Three weeks pass: the scheduler starts nothing of a paused mailing.
    for week in range(3):
        assert delivery.start_due_runs(now=now + week * WEEK + timedelta(hours=2)) == []
    assert not Run.objects.filter(mailing=weekly).exists()
    # Three occurrences fell due meanwhile (+1 h, +1 week 1 h, +2 weeks 1 h).
    Mailing.objects.filter(pk=weekly.pk).update(
        first_send_at=now - 2 * WEEK - timedelta(hours=1),
        schedule_anchor=now - 2 * WEEK - timedelta(hours=1),
        next_send_at=now - 2 * WEEK - timedelta(hours=1),
    )

    assert services.mailing_resume(user=user, mailing=weekly) == 3

    weekly.refresh_from_db()
    assert weekly.paused_at is None
    assert weekly.next_send_at == now + WEEK - timedelta(hours=1)
    assert delivery.start_due_runs() == []  # nothing due at once: no catch-up burst
    [run] = delivery.start_due_runs(now=weekly.next_send_at)
    assert run.occurrence == weekly.next_send_at


@pytest.mark.django_db
def test_a_one_off_due_during_a_pause_is_sent_on_resume(user, make_mailing, smtp_sink):
    once = make_mailing(user, recipients=2)  # due a minute ago
    services.mailing_pause(user=user, mailing=once)
    assert delivery.start_due_runs() == []

    assert services.mailing_resume(user=user, mailing=once) == 0
    assert len(delivery.start_due_runs()) == 1
    assert delivery.deliver().sent == 2


@pytest.mark.django_db
def test_stop_still_cancels_what_is_queued_even_when_paused(user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=3)
    run = delivery.start_run(mailing=mailing)
    services.mailing_pause(user=user, mailing=mailing)

    assert services.mailing_stop(user=user, mailing=mailing) == 3

    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.FINISHED and not mailing.is_paused
    assert states(run) == Counter({"cancelled": 3})


@pytest.mark.django_db
def test_pause_and_resume_refuse_what_does_not_apply(user, make_mailing):
    mailing = make_mailing(user, recipients=1)
    with pytest.raises(services.ActionRefused, match="not paused"):
        services.mailing_resume(user=user, mailing=mailing)
    services.mailing_pause(user=user, mailing=mailing)
    with pytest.raises(services.ActionRefused, match="already paused"):
        services.mailing_pause(user=user, mailing=mailing)


@pytest.mark.django_db
def test_only_the_owner_pauses_and_resumes(user, other_user, manager, client_for, make_mailing):
    mailing = make_mailing(user, recipients=1)
    for action in ("mailing_pause", "mailing_resume"):
        url = reverse(f"mailing:{action}", args=[mailing.pk])
        assert client_for(other_user).post(url).status_code == 404
        assert client_for(manager).post(url).status_code == 403
    assert not Mailing.objects.get(pk=mailing.pk).is_paused

    owner = client_for(user)
    paused = owner.post(reverse("mailing:mailing_pause", args=[mailing.pk]), follow=True)
    assert flash(paused) == ["Mailing paused: what is queued waits, and nothing new starts."]
    assert Mailing.objects.get(pk=mailing.pk).is_paused
    resumed = owner.post(reverse("mailing:mailing_resume", args=[mailing.pk]), follow=True)
    assert flash(resumed) == ["Mailing resumed."]
    assert not Mailing.objects.get(pk=mailing.pk).is_paused


# --- Block / unblock ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_block_then_unblock_leaves_a_launched_weekly_mailing_as_it_was(
    user, manager, make_mailing, smtp_sink
):
    now = timezone.now()
    weekly = make_mailing(
        user,
        recipients=3,
        periodicity=Mailing.Periodicity.WEEKLY,
        first_send_at=now - timedelta(minutes=5),
        end_at=now + 10 * WEEK,
    )
    [run] = delivery.start_due_runs()
    weekly.refresh_from_db()
    next_send = weekly.next_send_at
    assert weekly.status == Mailing.Status.LAUNCHED and next_send == run.occurrence + WEEK

    user_services.user_block(actor=manager, user=user)

    # Held: nothing cancelled, nothing failed, nothing sent, the plan kept.
    weekly.refresh_from_db()
    assert weekly.status == Mailing.Status.LAUNCHED and weekly.next_send_at == next_send
    assert states(run) == Counter({"pending": 3})
    assert delivery.deliver().attempted == 0
    delivery.finish_completed()
    assert Run.objects.get(pk=run.pk).finished_at is None
    assert delivery.start_due_runs(now=next_send + timedelta(minutes=1)) == []

    user_services.user_unblock(actor=manager, user=user)

    assert delivery.deliver().sent == 3
    assert smtp_sink.total == 3
    delivery.finish_completed()
    weekly.refresh_from_db()
    assert weekly.status == Mailing.Status.LAUNCHED and weekly.next_send_at == next_send
    [following] = delivery.start_due_runs(now=next_send)
    assert following.occurrence == next_send


@pytest.mark.django_db
def test_unblock_skips_the_occurrences_that_fell_due_during_the_block(user, manager, make_mailing):
    now = timezone.now()
    weekly = make_mailing(
        user,
        recipients=1,
        periodicity=Mailing.Periodicity.WEEKLY,
        first_send_at=now - 2 * WEEK - timedelta(hours=1),
        end_at=now + 10 * WEEK,
    )
    user_services.user_block(actor=manager, user=user)
    assert delivery.start_due_runs() == []

    user_services.user_unblock(actor=manager, user=user)

    weekly.refresh_from_db()
    assert weekly.next_send_at == now + WEEK - timedelta(hours=1)
    assert weekly.status == Mailing.Status.CREATED


@pytest.mark.django_db
def test_block_and_unblock_ask_for_confirmation_saying_what_they_do(
    user, manager, client_for, make_mailing
):
    delivery.start_run(mailing=make_mailing(user, recipients=2))
    boss = client_for(manager)

    page = boss.get(reverse("users:user_block", args=[user.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Block alice@example.com?" in text
    assert "Their 1 mailing in progress is held as it is" in text
    assert not type(user).objects.get(pk=user.pk).is_blocked  # a GET changes nothing

    done = boss.post(reverse("users:user_block", args=[user.pk]), follow=True)
    assert flash(done) == ["alice@example.com is blocked; their mailings are held until unblocked."]

    page = boss.get(reverse("users:user_unblock", args=[user.pk]))
    assert "Unblock alice@example.com?" in page.content.decode()
    done = boss.post(reverse("users:user_unblock", args=[user.pk]), follow=True)
    assert flash(done) == ["alice@example.com is unblocked; their mailings go on."]


@pytest.mark.django_db
def test_only_managers_see_the_block_confirmation(user, other_user, client_for):
    assert (
        client_for(other_user).get(reverse("users:user_block", args=[user.pk])).status_code == 403
    )


# --- Disable / enable ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_disable_cancels_the_queue_keeps_the_plan_and_enable_goes_on(
    user, manager, client_for, make_mailing, smtp_sink
):
    now = timezone.now()
    weekly = make_mailing(
        user,
        recipients=2,
        periodicity=Mailing.Periodicity.WEEKLY,
        first_send_at=now - timedelta(minutes=5),
        end_at=now + 10 * WEEK,
    )
    [run] = delivery.start_due_runs()
    weekly.refresh_from_db()
    next_send = weekly.next_send_at
    boss = client_for(manager)

    page = boss.get(reverse("mailing:mailing_disable", args=[weekly.pk]))
    assert page.status_code == 200
    assert "2 queued messages are cancelled" in page.content.decode()
    assert not Mailing.objects.get(pk=weekly.pk).is_disabled  # a GET changes nothing
    boss.post(reverse("mailing:mailing_disable", args=[weekly.pk]))

    weekly.refresh_from_db()
    assert weekly.is_disabled and weekly.next_send_at == next_send
    assert states(run) == Counter({"cancelled": 2})
    delivery.finish_completed()
    assert Mailing.objects.get(pk=weekly.pk).status == Mailing.Status.LAUNCHED
    assert delivery.start_due_runs(now=next_send) == []

    page = boss.get(reverse("mailing:mailing_enable", args=[weekly.pk]))
    assert "It goes on with its next occurrence" in page.content.decode()
    done = boss.post(reverse("mailing:mailing_enable", args=[weekly.pk]), follow=True)
    assert flash(done) == [f"Mailing #{weekly.pk} enabled."]
    weekly.refresh_from_db()
    assert not weekly.is_disabled and weekly.disabled_by is None
    [following] = delivery.start_due_runs(now=next_send)
    assert following.occurrence == next_send
    assert states(following) == Counter({"pending": 2})


@pytest.mark.django_db
def test_only_a_manager_enables(user, other_user, manager, client_for, make_mailing):
    mailing = make_mailing(user, recipients=1)
    services.mailing_disable(manager=manager, mailing=mailing)
    url = reverse("mailing:mailing_enable", args=[mailing.pk])
    assert client_for(other_user).post(url).status_code == 404
    assert client_for(user).post(url).status_code == 403
    assert client_for(user).get(url).status_code == 403
    assert Mailing.objects.get(pk=mailing.pk).is_disabled
