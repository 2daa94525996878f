"""Odd input walk: every list and form of the dashboard and the manager pages, with values a
person can type or paste — Unicode digits in ?owner= and ?page=, a NUL in a search (PostgreSQL
refuses NUL in strings), dates at the edges of the calendar in report filters and mailing
forms (in the site's time zone and others), very large numbers. Each is a form error or is
ignored; none is a 500. Runs on SQLite and on PostgreSQL."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mailing.models import Message, Recipient

pytestmark = pytest.mark.django_db

UNICODE_DIGITS = [
    "²",
    "١٢",
    "٣",
    "\U0001d7d9",
    "½",
    "\u0660",
]  # double-struck one, Arabic-Indic zero
HUGE = ["9" * 30, "-1", "1e309", "99999999999999999999", "0x10", " 1 "]
NUL = ["a\x00b", "\x00", "%00"]
DATES = ["0001-01-01", "9999-12-31", "0000-00-00", "10000-01-01", "2024-02-30"]
DATETIMES = [
    "0001-01-01T00:00",
    "9999-12-31T23:59",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59",
    "2024-02-30T10:00",
]
ODD = [*UNICODE_DIGITS, *HUGE, *NUL]
ZONES = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Moscow"]

LISTS = [
    ("mailing:dashboard", ["page"]),
    ("mailing:recipient_list", ["q", "page"]),
    ("mailing:message_list", ["q", "page"]),
    ("mailing:mailing_list", ["status", "owner", "page"]),
    ("mailing:attempt_list", ["mailing", "status", "date_from", "date_to", "page"]),
    ("mailing:scheduler_health", []),
    ("mailing:list_list", ["q", "page"]),
    ("mailing:audience_search", ["q", "kind"]),
    ("mailing:recipient_import", ["list"]),
    ("users:user_list", ["q", "blocked", "page"]),
]


@pytest.fixture
def owner_world(user, make_mailing):
    mailing = make_mailing(user, recipients=3)
    return mailing


def assert_no_500(response, what):
    assert response.status_code < 500, what


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("who", ["user", "manager"])
def test_every_list_takes_odd_query_values(request, client_for, owner_world, settings, who, zone):
    settings.TIME_ZONE = zone
    client = client_for(request.getfixturevalue(who))
    for name, params in LISTS:
        url = reverse(name)
        for param in params:
            values = ODD + (DATES if param.startswith("date") else [])
            for value in values:
                response = client.get(url, {param: value})
                if name in ("users:user_list", "mailing:scheduler_health") and who == "user":
                    assert response.status_code == 403
                    continue
                assert_no_500(response, (name, param, value))


@pytest.mark.parametrize("zone", ZONES)
def test_report_filters_at_the_calendar_edges_answer_with_a_form_error_or_rows(
    user, client_for, owner_world, settings, zone
):
    settings.TIME_ZONE = zone
    client = client_for(user)
    for date_from in DATES:
        for date_to in DATES:
            response = client.get(
                reverse("mailing:attempt_list"), {"date_from": date_from, "date_to": date_to}
            )
            assert_no_500(response, (date_from, date_to))


@pytest.mark.parametrize("zone", ZONES)
def test_mailing_forms_take_calendar_edges_as_a_form_error(user, client_for, settings, zone):
    settings.TIME_ZONE = zone
    message = Message.objects.create(owner=user, subject="S", body="B")
    recipient = Recipient.objects.create(owner=user, email="a@example.org", full_name="A")
    client = client_for(user)
    later = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    for first in [*DATETIMES, later]:
        for end in [*DATETIMES, later]:
            for periodicity in ("once", "monthly"):
                response = client.post(
                    reverse("mailing:mailing_create"),
                    {
                        "message": message.pk,
                        "recipients": [recipient.pk],
                        "first_send_at": first,
                        "end_at": end,
                        "periodicity": periodicity,
                        "start": "draft",
                    },
                )
                assert_no_500(response, (first, end, periodicity))


@pytest.mark.parametrize("zone", ZONES)
def test_the_schedule_modal_takes_calendar_edges_as_a_form_error(
    user, client_for, owner_world, settings, zone
):
    settings.TIME_ZONE = zone
    client = client_for(user)
    url = reverse("mailing:mailing_schedule", args=[owner_world.pk])
    for value in [*DATETIMES, *ODD]:
        assert_no_500(client.post(url, {"send_at": value}), value)


def test_forms_take_odd_values_in_every_field(user, client_for, owner_world):
    client = client_for(user)
    for value in [*ODD, "x" * 5000]:
        for name, data in [
            ("mailing:recipient_create", {"email": value, "full_name": value, "comment": value}),
            ("mailing:message_create", {"subject": value, "body": value}),
            (
                "mailing:mailing_create",
                {"message": value, "recipients": [value], "periodicity": value, "start": value},
            ),
        ]:
            assert_no_500(client.post(reverse(name), data), (name, value))


def test_huge_ids_in_paths_answer_404(user, client_for):
    client = client_for(user)
    for name in ("mailing:mailing_detail", "mailing:message_detail", "mailing:mailing_progress"):
        assert client.get(reverse(name, args=[10**30])).status_code == 404
