"""Structured log lines for the events an operator looks for."""

import json
import logging

import pytest
from django.test import Client
from django.urls import reverse

from site_project.logging import StructuredFormatter

pytestmark = pytest.mark.django_db


def events(caplog) -> dict[str, logging.LogRecord]:
    return {record.getMessage(): record for record in caplog.records}


def test_the_formatter_writes_one_json_object_per_line_with_the_fields():
    record = logging.makeLogRecord(
        {"name": "mailing.services", "levelname": "INFO", "msg": "mailing.created", "mailing_id": 7}
    )
    line = StructuredFormatter().format(record)
    data = json.loads(line)
    assert "\n" not in line
    assert data["event"] == "mailing.created" and data["mailing_id"] == 7
    assert data["level"] == "INFO" and data["logger"] == "mailing.services" and data["ts"]


def test_mailing_create_edit_and_delete_are_logged(user, client_for, caplog, make_mailing):
    caplog.set_level(logging.INFO)
    mailing = make_mailing(user, recipients=1)
    client = client_for(user)
    data = {
        "message": mailing.message_id,
        "recipients": list(mailing.recipients.values_list("pk", flat=True)),
        "first_send_at": "2030-01-01T09:00",
        "end_at": "2030-02-01T09:00",
        "periodicity": "monthly",
    }
    client.post(reverse("mailing:mailing_create"), data)
    client.post(reverse("mailing:mailing_update", args=[mailing.pk]), data)
    client.post(reverse("mailing:mailing_delete", args=[mailing.pk]))

    logged = events(caplog)
    assert logged["mailing.created"].user_id == user.pk
    assert logged["mailing.updated"].object_id == mailing.pk
    assert logged["mailing.deleted"].object_id == mailing.pk


def test_blocks_disables_and_sign_ins_are_logged(user, manager, client_for, caplog, make_mailing):
    caplog.set_level(logging.INFO)
    mailing = make_mailing(user, recipients=1)
    boss = client_for(manager)
    boss.post(reverse("mailing:mailing_disable", args=[mailing.pk]))
    boss.post(reverse("users:user_block", args=[user.pk]))
    Client().post(reverse("account_login"), {"login": user.email, "password": "wrong"})

    logged = events(caplog)
    assert logged["mailing.disabled"].user_id == manager.pk
    assert (
        logged["user.blocked"].user_id == user.pk and logged["user.blocked"].actor_id == manager.pk
    )
    signed_in = {r.user_id for r in caplog.records if r.getMessage() == "user.signed_in"}
    assert signed_in == {manager.pk}
    assert logged["user.sign_in_failed"].levelname == "WARNING"
    assert logged["user.sign_in_failed"].login == user.email
