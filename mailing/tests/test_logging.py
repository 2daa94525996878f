"""Structured log lines for the events an operator looks for."""

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from site_project.logging import MakedirsRotatingFileHandler, StructuredFormatter

pytestmark = pytest.mark.django_db


def events(caplog) -> dict[str, Any]:  # records with the event's fields
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


# --- Refused actions -----------------------------------------------------------------------------


def refusals(caplog) -> list[Any]:
    return [r for r in caplog.records if r.getMessage() == "action.refused"]


def test_a_refused_write_is_logged_once_as_a_warning_without_a_traceback(
    user, manager, client_for, make_mailing, caplog
):
    caplog.set_level(logging.INFO)
    mailing = make_mailing(user, recipients=1)
    recipient = mailing.recipients.first()

    response = client_for(manager).post(
        reverse("mailing:recipient_update", args=[recipient.pk]),
        {"email": "taken-over@example.org", "full_name": "X"},
    )

    assert response.status_code == 403
    [refusal] = refusals(caplog)
    assert refusal.levelname == "WARNING" and refusal.exc_info is None
    assert refusal.user_id == manager.pk
    assert refusal.action == "mailing:recipient_update" and refusal.method == "POST"
    assert refusal.reason == "Managers have read-only access to campaigns."
    # Not a second time by django.request, with the traceback of the PermissionDenied.
    assert not [r for r in caplog.records if r.name == "django.request"]
    line = json.loads(StructuredFormatter().format(refusal))
    assert "exception" not in line and line["reason"] == refusal.reason


def test_a_blocked_managers_refused_action_is_logged_with_the_reason(
    user, manager, make_user, client_for, caplog
):
    caplog.set_level(logging.INFO)
    boss = make_user("boss@example.com", manager=True, blocked=True)

    client_for(boss).post(reverse("users:user_block", args=[user.pk]))

    [refusal] = refusals(caplog)
    assert (refusal.user_id, refusal.action) == (boss.pk, "users:user_block")
    assert refusal.reason.startswith("Your account is blocked")


def test_an_action_the_service_refuses_is_logged_once(user, client_for, make_mailing, caplog):
    caplog.set_level(logging.INFO)
    mailing = make_mailing(user, recipients=1)

    client_for(user).post(reverse("mailing:message_delete", args=[mailing.message_id]))

    [refusal] = refusals(caplog)
    assert refusal.levelname == "WARNING" and refusal.exc_info is None
    assert (refusal.user_id, refusal.action) == (user.pk, "mailing:message_delete")
    assert refusal.reason == f"This message is used by mailing #{mailing.pk}; delete those first."


# --- The rotating log file ----------------------------------------------------------------------


def test_the_configured_log_file_receives_each_line_as_json():
    [handler] = [
        h for h in logging.getLogger().handlers if isinstance(h, MakedirsRotatingFileHandler)
    ]
    marker = uuid.uuid4().hex

    logging.getLogger("mailing.services").warning("test.marker", extra={"marker": marker})
    handler.flush()

    path = Path(handler.baseFilename)
    lines = [
        line
        for name in (path, path.with_name(path.name + ".1"))  # in case it just rotated
        if name.exists()
        for line in name.read_text(encoding="utf-8").splitlines()
        if marker in line
    ]
    [line] = lines
    data = json.loads(line)
    assert (data["event"], data["marker"], data["level"]) == ("test.marker", marker, "WARNING")
    assert data["logger"] == "mailing.services"


def test_the_log_file_is_created_with_its_folder_and_rotates(tmp_path):
    path = tmp_path / "var" / "log" / "site.log"
    handler = MakedirsRotatingFileHandler(str(path), maxBytes=400, backupCount=2, encoding="utf-8")
    handler.setFormatter(StructuredFormatter())
    logger = logging.getLogger("test.rotation")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for i in range(12):
            logger.warning("test.line", extra={"number": i})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()

    files = sorted(path.parent.iterdir())
    assert [f.name for f in files] == ["site.log", "site.log.1", "site.log.2"]
    numbers = [json.loads(line)["number"] for f in files for line in f.read_text().splitlines()]
    assert numbers and max(numbers) == 11 and all(0 <= n <= 11 for n in numbers)
    assert all(f.stat().st_size <= 400 for f in files)
