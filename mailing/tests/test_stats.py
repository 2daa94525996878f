"""The figures users read: totals, attempt counts and the per-day chart."""

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailing import delivery, selectors
from mailing.models import Attempt, DailyStat, Mailing, Recipient

pytestmark = pytest.mark.django_db


def test_a_users_totals_count_only_their_own_and_a_manager_sees_everyones(
    user, other_user, manager, make_mailing
):
    launched = make_mailing(user, recipients=3)
    make_mailing(user, recipients=2)
    Mailing.objects.filter(pk=launched.pk).update(status=Mailing.Status.LAUNCHED)
    make_mailing(other_user, recipients=4)

    assert selectors.totals_for(user=user) == selectors.Totals(2, 1, 5)
    assert selectors.totals_for(user=other_user) == selectors.Totals(1, 0, 4)
    assert selectors.totals_for(user=manager) == selectors.Totals(3, 1, 9)
    assert selectors.site_totals() == selectors.Totals(3, 1, 9)


def test_a_disabled_mailing_is_not_active(user, make_mailing):
    mailing = make_mailing(user, recipients=1)
    Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.LAUNCHED, is_disabled=True)
    assert selectors.site_totals().active_mailings == 0


def test_unique_recipients_ignore_case_across_owners(user, other_user):
    Recipient.objects.create(owner=user, email="Ada@example.org", full_name="Ada")
    Recipient.objects.create(owner=other_user, email="ada@EXAMPLE.org", full_name="Ada")
    Recipient.objects.create(owner=other_user, email="grace@example.org", full_name="Grace")
    assert selectors.site_totals().unique_recipients == 2


def test_the_daily_totals_match_the_attempt_rows_the_engine_wrote(
    user, make_mailing, smtp_sink, settings
):
    settings.MAILING_SENDER_CONNECTIONS = 1
    mailing = make_mailing(user, recipients=5)
    first, second = mailing.recipients.order_by("email").values_list("email", flat=True)[:2]
    smtp_sink.script(first, "550")
    smtp_sink.script(second, "451")
    delivery.start_run(mailing=mailing)
    delivery.deliver()

    totals = selectors.attempt_totals_for(user=user)

    assert (totals.successes, totals.failures) == (3, 2)
    assert totals.successes == Attempt.objects.filter(status="success").count()
    assert totals.failures == Attempt.objects.filter(status="failure").count()
    assert totals.success_rate == 60.0


def test_attempts_per_day_fills_quiet_days_with_zeros(user, make_mailing, record_attempt):
    mailing = make_mailing(user, recipients=1)
    today = timezone.localdate()
    record_attempt(mailing, at=timezone.now() - timedelta(days=2))
    record_attempt(mailing, at=timezone.now() - timedelta(days=2), status="failure")
    record_attempt(mailing)
    record_attempt(mailing, at=timezone.now() - timedelta(days=40))  # outside the window

    days = selectors.attempts_per_day(stats=DailyStat.objects.all(), days=7, today=today)

    assert [d["day"] for d in days] == [
        (today - timedelta(days=6 - i)).isoformat() for i in range(7)
    ]
    assert [(d["successes"], d["failures"]) for d in days] == [
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (1, 1),
        (0, 0),
        (1, 0),
    ]


def test_the_dashboard_shows_the_totals_and_the_chart_data(
    user, client_for, make_mailing, record_attempt
):
    mailing = make_mailing(user, recipients=2)
    record_attempt(mailing)
    record_attempt(mailing, status="failure")

    html = client_for(user).get(reverse("mailing:dashboard")).content.decode()

    assert 'data-testid="stat-mailings">1<' in html
    assert 'data-testid="stat-recipients">2<' in html
    assert 'data-testid="stat-sent">1<' in html
    assert 'data-testid="stat-failed">1<' in html
    assert 'data-testid="stat-rate">50.0%<' in html
    data = json.loads(
        html.split('id="per-day-data" type="application/json">', 1)[1].split("</script>")[0]
    )
    assert len(data) == 30 and data[-1] == {
        "day": timezone.localdate().isoformat(),
        "successes": 1,
        "failures": 1,
    }


def test_the_attempt_report_filters_by_mailing_status_and_date(
    user, client_for, make_mailing, record_attempt
):
    first, second = make_mailing(user, recipients=1), make_mailing(user, recipients=1)
    record_attempt(first, email="ok@example.org")
    record_attempt(first, email="bad@example.org", status="failure")
    record_attempt(second, email="old@example.org", at=timezone.now() - timedelta(days=10))
    client = client_for(user)
    url = reverse("mailing:attempt_list")

    def emails(**query) -> set[str]:
        page = client.get(url, query).context["page_obj"]
        return {attempt.email for attempt in page.object_list}

    assert emails() == {"ok@example.org", "bad@example.org", "old@example.org"}
    assert emails(mailing=first.pk) == {"ok@example.org", "bad@example.org"}
    assert emails(status="failure") == {"bad@example.org"}
    assert emails(date_from=(timezone.localdate() - timedelta(days=1)).isoformat()) == {
        "ok@example.org",
        "bad@example.org",
    }
    assert emails(date_to=(timezone.localdate() - timedelta(days=5)).isoformat()) == {
        "old@example.org"
    }
    response = client.get(url, {"mailing": first.pk, "status": "failure"})
    assert response.context["page_obj"].paginator.count == 1


def test_the_attempt_report_pages_through_many_attempts(
    user, client_for, make_mailing, record_attempt
):
    mailing = make_mailing(user, recipients=1)
    for i in range(30):
        record_attempt(mailing, email=f"a{i}@example.org", at=timezone.now() - timedelta(minutes=i))
    client = client_for(user)

    first = client.get(reverse("mailing:attempt_list")).context["page_obj"]
    second = client.get(reverse("mailing:attempt_list"), {"page": 2}).context["page_obj"]

    assert first.paginator.count == 30 and first.paginator.num_pages == 2
    assert [a.email for a in first.object_list][:2] == ["a0@example.org", "a1@example.org"]
    assert len(second.object_list) == 5


@pytest.mark.parametrize("query", [{}, {"status": "failure"}], ids=["all", "failures"])
def test_every_page_of_the_report_holds_the_rows_of_the_newest_first_order(
    user, client_for, make_mailing, record_attempt, query
):
    mailing = make_mailing(user, recipients=1)
    now = timezone.now()
    for i in range(80):
        # Pairs of attempts at the same instant: the order between them is by id.
        record_attempt(
            mailing,
            email=f"a{i:02}@example.org",
            at=now - timedelta(minutes=i // 2),
            status="failure" if i % 3 else "success",
        )
    expected = list(
        Attempt.objects.filter(**query)
        .order_by("-attempted_at", "-pk")
        .values_list("pk", flat=True)
    )
    client = client_for(user)
    url = reverse("mailing:attempt_list")

    pages = []
    number = 1
    while True:
        page = client.get(url, {**query, "page": number}).context["page_obj"]
        pages.append([attempt.pk for attempt in page.object_list])
        if not page.has_next():
            break
        number += 1

    assert [pk for rows in pages for pk in rows] == expected
    assert len(pages) == -(-len(expected) // selectors.PAGE_SIZE)


def test_the_last_page_of_the_report_is_read_from_the_oldest_end(
    user, client_for, make_mailing, record_attempt
):
    mailing = make_mailing(user, recipients=1)
    for i in range(130):
        record_attempt(mailing, email=f"a{i}@example.org", at=timezone.now() - timedelta(seconds=i))
    client = client_for(user)

    with CaptureQueriesContext(connection) as captured:
        last = client.get(reverse("mailing:attempt_list"), {"page": 6}).context["page_obj"]
        list(last.object_list)

    assert [a.email for a in last.object_list] == [f"a{i}@example.org" for i in range(125, 130)]
    reads = [q["sql"] for q in captured if 'FROM "mailing_attempt"' in q["sql"]]
    offsets = [int(m) for sql in reads for m in re.findall(r"OFFSET (\d+)", sql)]
    # Not 125 rows skipped from the newest end: at most half the rows, from the oldest end.
    assert reads and max(offsets, default=0) <= 65
