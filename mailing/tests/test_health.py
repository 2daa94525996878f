"""The managers' scheduler health page: the last tick the scheduler recorded, the queue's
state in a fixed number of queries, and a plain statement when the scheduler is not running."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailing import delivery, jobs, selectors, services
from mailing.models import Delivery, Heartbeat

pytestmark = pytest.mark.django_db

URL = reverse("mailing:scheduler_health")


def test_only_managers_see_it(user, client_for):
    assert client_for(user).get(URL).status_code == 403


@pytest.mark.django_db(transaction=True)  # the job closes its connection, as in the scheduler
def test_it_says_plainly_when_the_scheduler_never_ran_runs_or_stopped(manager, client_for):
    client = client_for(manager)
    assert "it has never ticked against this database" in client.get(URL).content.decode()

    jobs.record_tick()  # what every tick of run_scheduler does first
    page = client.get(URL).content.decode()
    assert "The scheduler is running" in page

    Heartbeat.objects.update(beat_at=timezone.now() - timedelta(minutes=10))
    page = client.get(URL).content.decode()
    assert "The scheduler is not running: its last tick was 10" in page


@pytest.mark.django_db(transaction=True)
def test_the_run_scheduler_once_records_its_tick(settings):
    from django.core.management import call_command

    call_command("run_scheduler", "--once", "--no-wait")
    beat = Heartbeat.objects.get(name=Heartbeat.SCHEDULER)
    assert timezone.now() - beat.beat_at < timedelta(minutes=1)


def test_the_queue_figures(user, make_mailing):
    now = timezone.now()
    run = delivery.start_run(mailing=make_mailing(user, recipients=5))
    rows = list(Delivery.objects.filter(run=run).order_by("pk"))
    Delivery.objects.filter(pk=rows[0].pk).update(tries=1, next_try_at=now + timedelta(minutes=5))
    Delivery.objects.filter(pk=rows[1].pk).update(
        state="claimed",
        claim_token="00000000-0000-0000-0000-000000000001",
        lease_expires_at=now + timedelta(minutes=5),
    )
    Delivery.objects.filter(pk=rows[2].pk).update(next_try_at=now - timedelta(minutes=7))
    paused = make_mailing(user, recipients=2)
    delivery.start_run(mailing=paused)
    services.mailing_pause(user=user, mailing=paused)

    health = selectors.scheduler_health(now=now)

    assert (health.queued, health.retrying, health.claimed, health.held) == (3, 1, 1, 2)
    assert health.senders_alive == 1
    assert timedelta(minutes=7) <= health.oldest_age < timedelta(minutes=8)
    assert not health.running and health.last_tick is None


def test_its_queries_do_not_grow_with_the_queue(user, make_mailing):
    counts = []
    for recipients in (1, 50):
        delivery.start_run(mailing=make_mailing(user, recipients=recipients))
        with CaptureQueriesContext(connection) as captured:
            selectors.scheduler_health()
        counts.append(len(captured))
    assert counts[0] == counts[1] <= 2
