"""A mailing made without the dashboard is planned and sent like one saved there: with the
model's own fields from a shell, from a fixture (`loaddata`, raw saves), from a data
migration's historical model, and through the service."""

import json
from datetime import datetime, timedelta
from email.message import Message as EmailMessage
from pathlib import Path
from typing import cast

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from mailing import services
from mailing.models import Mailing, Message, Recipient
from mailing.smtp_sink import SmtpSink
from users.models import User

# The scheduler's senders run in threads with connections of their own: committed data.
pytestmark = pytest.mark.django_db(transaction=True)


def tick() -> None:
    call_command("run_scheduler", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115


def delivered(sink: SmtpSink) -> dict[str, EmailMessage]:
    """What the sink received, parsed from the bytes on the wire, by recipient address."""
    return {received.rcpt_to: received.message for received in sink.received}


def text_of(message: EmailMessage) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    payload = cast(bytes, part.get_payload(decode=True))
    # What the owner wrote: the unsubscribe footer ("-- " and the link) aside.
    return payload.decode().replace("\r\n", "\n").split("\n-- \n")[0].strip()


def test_a_mailing_created_with_the_models_own_fields_is_sent_at_its_first_send(user, smtp_sink):
    message = Message.objects.create(owner=user, subject="Shell news", body="Made in a shell ✓")
    readers = [
        Recipient.objects.create(owner=user, email=f"reader{i}@example.org", full_name=f"R{i}")
        for i in range(2)
    ]
    first = timezone.now() - timedelta(minutes=1)

    mailing = Mailing.objects.create(
        owner=user,
        message=message,
        first_send_at=first,
        end_at=first + timedelta(days=7),
        periodicity="once",
        status="created",
    )
    mailing.recipients.set(readers)

    stored = Mailing.objects.get(pk=mailing.pk)
    assert (stored.schedule_anchor, stored.next_send_at) == (first, first)
    tick()

    mail = delivered(smtp_sink)
    assert set(mail) == {"reader0@example.org", "reader1@example.org"}
    assert all(m["Subject"] == "Shell news" for m in mail.values())
    assert text_of(mail["reader0@example.org"]) == "Made in a shell ✓"
    stored.refresh_from_db()
    assert stored.status == Mailing.Status.FINISHED


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_a_mailing_loaded_from_a_fixture_is_sent_at_its_first_send(tmp_path: Path, smtp_sink):
    """A fixture as `dumpdata` writes one (and as course projects ship their demo data): the
    model's fields, no plan. loaddata's saves are raw: no save() of ours runs."""
    now = timezone.now()
    first, made = now - timedelta(minutes=2), _stamp(now - timedelta(days=1))
    rows = [
        {
            "model": "users.user",
            "pk": 901,
            "fields": {"email": "fixture@example.com", "password": "!", "is_active": True},
        },
        {
            "model": "mailing.message",
            "pk": 902,
            "fields": {
                "owner": 901,
                "subject": "Fixture news",
                "body": "Loaded from a fixture.",
                "created_at": made,
                "updated_at": made,
            },
        },
        {
            "model": "mailing.recipient",
            "pk": 903,
            "fields": {
                "owner": 901,
                "email": "reader@example.org",
                "full_name": "Reader",
                "comment": "",
                "created_at": made,
                "updated_at": made,
            },
        },
        {
            "model": "mailing.mailing",
            "pk": 904,
            "fields": {
                "owner": 901,
                "message": 902,
                "recipients": [903],
                "first_send_at": _stamp(first),
                "end_at": _stamp(first + timedelta(days=30)),
                "periodicity": "weekly",
                "status": "created",
                "created_at": made,
                "updated_at": made,
            },
        },
    ]
    fixture = tmp_path / "demo.json"
    fixture.write_text(json.dumps(rows), encoding="utf-8")

    call_command("loaddata", str(fixture), verbosity=0)

    mailing = Mailing.objects.get(pk=904)
    assert mailing.schedule_anchor == mailing.first_send_at == mailing.next_send_at
    tick()

    [(address, mail)] = delivered(smtp_sink).items()
    assert address == "reader@example.org"
    assert mail["Subject"] == "Fixture news"
    assert text_of(mail) == "Loaded from a fixture."
    mailing.refresh_from_db()
    # Weekly: the first occurrence went out, the next one is planned a week after it.
    assert mailing.status == Mailing.Status.LAUNCHED
    assert mailing.next_send_at == timezone.localtime(first) + timedelta(weeks=1)


def test_a_mailing_a_data_migration_creates_is_planned_too(user):
    """A data migration works with historical models, whose class is not mailing.models'."""
    executor = MigrationExecutor(connection)
    state = executor.loader.project_state(executor.loader.graph.leaf_nodes("mailing"))
    historical = state.apps.get_model("mailing", "Mailing")
    assert historical is not Mailing
    message = Message.objects.create(owner=user, subject="Migrated", body="B")
    first = timezone.now() + timedelta(days=1)

    row = historical.objects.create(
        owner_id=user.pk,
        message_id=message.pk,
        first_send_at=first,
        end_at=first + timedelta(days=3),
        periodicity="daily",
        status="created",
    )

    stored = Mailing.objects.get(pk=row.pk)
    assert (stored.schedule_anchor, stored.next_send_at) == (first, first)


def test_a_stored_finished_mailing_is_not_sent_and_an_explicit_plan_is_kept(user):
    message = Message.objects.create(owner=user, subject="Old news", body="B")
    first = timezone.now() - timedelta(days=10)
    finished = Mailing.objects.create(
        owner=user,
        message=message,
        first_send_at=first,
        end_at=first + timedelta(days=5),
        status="finished",
    )
    later = timezone.now() + timedelta(days=2)
    planned = Mailing.objects.create(
        owner=user,
        message=message,
        first_send_at=first,
        end_at=later + timedelta(days=5),
        schedule_anchor=later,
        next_send_at=later,
    )

    finished.refresh_from_db()
    planned.refresh_from_db()
    assert (finished.schedule_anchor, finished.next_send_at) == (first, None)
    assert (planned.schedule_anchor, planned.next_send_at) == (later, later)


def test_a_mailing_created_through_the_service_gets_the_same_plan(user, smtp_sink):
    readers = [Recipient.objects.create(owner=user, email="r@example.org", full_name="R")]
    message = Message.objects.create(owner=user, subject="Service news", body="Hello.")
    first = timezone.now() - timedelta(minutes=1)

    mailing = services.mailing_create(
        owner=User.objects.get(pk=user.pk),
        message=message,
        recipients=readers,
        first_send_at=first,
        end_at=first + timedelta(days=1),
        periodicity="once",
    )
    tick()

    assert (mailing.schedule_anchor, mailing.next_send_at) == (first, first)
    assert list(delivered(smtp_sink)) == ["r@example.org"]
