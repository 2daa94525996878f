"""CSV import of recipients (dashboard preview → confirm, and `manage.py import_recipients`)
and the streamed CSV exports."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mailing import services
from mailing.importing import ImportFileError
from mailing.models import Membership, Recipient, RecipientList, Suppression
from mailing.services.imports import recipients_import

from .senders import database_url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path


def run(owner, content: bytes, **kwargs):
    return recipients_import(owner=owner, file=io.BytesIO(content), **kwargs)


def emails(owner) -> set[str]:
    return set(Recipient.objects.filter(owner=owner).values_list("email", flat=True))


HAPPY = b"email,full_name,comment,extra\nada@example.org,Ada,first,x\nbob@example.org,Bob,,y\n"


def test_the_preview_writes_nothing_and_the_import_writes_the_rows(user):
    preview = run(user, HAPPY)
    assert (preview.created, preview.updated, preview.rejected_count) == (2, 0, 0)
    assert not Recipient.objects.exists()

    done = run(user, HAPPY, commit=True)

    assert done.created == 2
    ada = Recipient.objects.get(owner=user, email="ada@example.org")
    assert (ada.full_name, ada.comment) == ("Ada", "first")
    again = run(user, HAPPY)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


@pytest.mark.parametrize(
    "content",
    [
        b"\xef\xbb\xbfEmail;Full_Name\nada@example.org;Ada\n",  # BOM, semicolons, any case
        "Почта;Имя;Комментарий\nada@example.org;Ада;друг\n".encode(),
        "\ufeffE-mail,ИМЯ\r\nada@example.org,Ада\r\n".encode(),
    ],
    ids=["bom-semicolon", "russian", "bom-crlf-russian"],
)
def test_bom_semicolons_and_russian_headers(user, content):
    report = run(user, content, commit=True)

    assert report.created == 1
    assert emails(user) == {"ada@example.org"}
    assert Recipient.objects.get().full_name in {"Ada", "Ада"}


def test_bad_rows_are_rejected_with_their_line_numbers_and_reasons(user):
    Suppression.objects.create(owner=user, email="Gone@Example.org", reason="unsubscribed")
    Suppression.objects.create(owner=user, email="bounced@example.org", reason="bounced")
    Recipient.objects.create(owner=user, email="old@example.org", full_name="Old")
    content = (
        b"email,full_name\n"
        b"ok@example.org,Ok\n"  # 2
        b"not-an-address,X\n"  # 3
        b"OK@example.org,Again\n"  # 4: same address as line 2
        b"gone@example.org,Gone\n"  # 5
        b"bounced@example.org,B\n"  # 6
        b",No address\n"  # 7
        b"\n"  # 8: blank, skipped
        b'line@example.org,"Two\nlines"\n'  # 9-10
        b"old@example.org,New name\n"  # 11
    )

    report = run(user, content, commit=True)

    assert [(r.number, r.reason) for r in report.rejected] == [
        (3, "not a valid email address"),
        (4, "the same address as line 2"),
        (7, "no address"),
        (10, "the name must be a single line of plain text"),
        (5, "suppressed: the person unsubscribed"),
        (6, "suppressed: mail to it bounced"),
    ]
    assert (report.created, report.updated) == (1, 1)
    assert emails(user) == {"ok@example.org", "old@example.org"}
    assert Recipient.objects.get(email="old@example.org").full_name == "New name"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"email\nada@example.org\n" + "é".encode("latin-1") + b"@example.org\n", "not UTF-8"),
        (b"PK\x03\x04\x00\x00binary", "not a CSV text file"),
        (b"name,phone\nAda,123\n", "“email”"),
        (b"", "empty"),
    ],
    ids=["latin-1", "binary", "no-email-column", "empty"],
)
def test_files_that_cannot_be_read_are_refused_with_nothing_created(user, content, message):
    friends = services.list_create(owner=user, name="Friends")

    with pytest.raises(ImportFileError, match=message):
        run(user, content, commit=True, recipient_list=friends)

    assert not Recipient.objects.exists()
    assert not Membership.objects.exists()


def test_a_file_not_utf8_halfway_changes_nothing(user):
    rows = "".join(f"p{i}@example.org,P{i}\n" for i in range(5000)).encode()
    content = b"email,full_name\n" + rows + b"caf\xe9@example.org,X\n"

    with pytest.raises(ImportFileError, match=r"line 5002"):
        run(user, content, commit=True)

    assert not Recipient.objects.exists()


def test_too_large_files_are_refused(user, settings):
    settings.MAILING_IMPORT_MAX_BYTES = 20
    with pytest.raises(ImportFileError, match="too large"):
        run(user, HAPPY, commit=True)
    assert not Recipient.objects.exists()


def test_an_import_is_owner_scoped(user, other_user):
    Recipient.objects.create(owner=other_user, email="ada@example.org", full_name="Theirs")
    Suppression.objects.create(owner=other_user, email="bob@example.org", reason="bounced")

    report = run(user, HAPPY, commit=True)

    assert report.created == 2  # another owner's address or suppression is not mine
    assert Recipient.objects.get(owner=other_user).full_name == "Theirs"


def test_the_import_puts_everyone_in_the_list_confirmed(user):
    Recipient.objects.create(owner=user, email="bob@example.org", full_name="Bob")
    friends = services.list_create(owner=user, name="Friends")

    report = run(user, HAPPY, commit=True, recipient_list=friends)

    assert report.added_to_list == 2
    members = Membership.objects.filter(list=friends)
    assert {m.recipient.email for m in members} == {"ada@example.org", "bob@example.org"}
    assert {(m.status, m.consent_source) for m in members} == {("confirmed", "import")}


# --- The dashboard ----------------------------------------------------------------------------


def upload(content: bytes, name: str = "people.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_upload_preview_then_confirm(user, client_for):
    friends = services.list_create(owner=user, name="Friends")
    client = client_for(user)
    url = reverse("mailing:recipient_import")
    content = HAPPY + b"bad,Bad\n"

    form = client.get(url, {"list": friends.pk})
    preview = client.post(url, {"file": upload(content), "list": friends.pk})

    assert form.status_code == 200
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "2 new recipients" in page and "1 rejected" in page
    assert "not a valid email address" in page
    assert not Recipient.objects.exists()
    token = preview.context["token"]

    done = client.post(reverse("mailing:recipient_import_confirm"), {"token": token}, follow=True)

    assert done.redirect_chain[-1][0] == reverse("mailing:list_detail", args=[friends.pk])
    texts = [str(m) for m in done.context["messages"]]
    assert texts == [
        "Import done: 2 created, 0 updated, 0 unchanged, 1 rejected. 2 new members in “Friends”."
    ]
    assert emails(user) == {"ada@example.org", "bob@example.org"}
    # The stored upload is gone; the token does not work twice.
    again = client.post(reverse("mailing:recipient_import_confirm"), {"token": token}, follow=True)
    assert "This upload has expired" in str(next(iter(again.context["messages"])))
    assert Recipient.objects.count() == 2


def test_a_bad_file_is_an_error_next_to_the_field(user, client_for, settings):
    client = client_for(user)
    url = reverse("mailing:recipient_import")

    latin = client.post(url, {"file": upload("email,имя\nada@example.org,Петя\n".encode("cp1251"))})
    settings.MAILING_IMPORT_MAX_BYTES = 10
    large = client.post(url, {"file": upload(HAPPY)})

    assert latin.status_code == 400
    assert "not UTF-8" in latin.context["form"].errors["file"][0]
    assert "too large" in large.context["form"].errors["file"][0]
    assert not Recipient.objects.exists()
    assert not list(Path(settings.VAR_DIR, "imports").glob("*.csv"))


def test_another_users_token_or_list_is_refused(user, other_user, client_for):
    theirs = services.list_create(owner=other_user, name="Theirs")
    client = client_for(user)
    url = reverse("mailing:recipient_import")

    wrong_list = client.post(url, {"file": upload(HAPPY), "list": theirs.pk})
    preview = client_for(other_user).post(url, {"file": upload(HAPPY)})
    stolen = client.post(
        reverse("mailing:recipient_import_confirm"), {"token": preview.context["token"]}
    )

    assert wrong_list.status_code == 400 and "list" in wrong_list.context["form"].errors
    assert stolen.status_code == 302
    assert not Recipient.objects.exists()


def test_a_manager_cannot_import(manager, client_for):
    assert client_for(manager).get(reverse("mailing:recipient_import")).status_code == 403


# --- The command ------------------------------------------------------------------------------


def test_the_command_imports_into_a_list_and_prints_counts_and_rejections(user, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(HAPPY + b"bad,Bad\n")
    out = io.StringIO()

    call_command("import_recipients", str(path), owner=user.email, list_name="Friends", stdout=out)

    text = out.getvalue()
    assert "Imported 3 rows: 2 created, 0 updated, 0 unchanged, 1 rejected." in text
    assert "List 'Friends' (new list): 2 new members." in text
    assert "line 4: 'bad': not a valid email address" in text
    assert "100%" in text
    assert RecipientList.objects.get(owner=user).members.count() == 2


def test_the_command_refuses_a_bad_file_and_creates_nothing(user, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"name\nAda\n")

    with pytest.raises(CommandError, match=r"“email”.*Nothing was imported"):
        call_command("import_recipients", str(path), owner=user.email, list_name="New")
    with pytest.raises(CommandError, match="No user"):
        call_command("import_recipients", str(path), owner="nobody@example.com")

    assert not RecipientList.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_command_exit_codes(user, tmp_path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(HAPPY)
    bad.write_bytes(b"email\n\xff\xfe@example.org\n")
    env = {**os.environ, "DATABASE_URL": database_url()}

    def command(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "import_recipients", "--owner", user.email, str(path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    refused, done = command(bad), command(good)

    assert refused.returncode == 1
    assert "not UTF-8 text (line 2)" in refused.stderr
    assert done.returncode == 0, done.stderr
    assert "2 created" in done.stdout
    assert emails(user) == {"ada@example.org", "bob@example.org"}


# --- Exports ----------------------------------------------------------------------------------


def read_csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


def test_the_recipient_export_round_trips_through_the_import(user, other_user, client_for):
    run(
        user,
        'email,full_name,comment\nada@example.org,Ада,"a, b"\nbob@example.org,Bob,\n'.encode(),
        commit=True,
    )
    friends = services.list_create(owner=user, name="Friends")
    ids = list(Recipient.objects.filter(owner=user).values_list("pk", flat=True))
    services.list_add_recipients(user=user, recipient_list=friends, recipient_ids=ids)
    Suppression.objects.create(owner=user, email="BOB@example.org", reason="bounced")
    Recipient.objects.create(owner=other_user, email="theirs@example.org", full_name="T")

    response = client_for(user).get(reverse("mailing:recipient_export"))
    rows = read_csv(response)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert [
        (r["email"], r["full_name"], r["comment"], r["lists"], r["suppressed"]) for r in rows
    ] == [
        ("ada@example.org", "Ада", "a, b", "Friends", ""),
        ("bob@example.org", "Bob", "", "Friends", "bounced"),
    ]
    # The export imports back into another account as it is (bob is not suppressed there).
    content = b"".join(client_for(user).get(reverse("mailing:recipient_export")).streaming_content)
    report = run(other_user, content, commit=True)
    assert (report.created, report.rejected_count) == (2, 0)
    assert Recipient.objects.get(owner=other_user, email="ada@example.org").comment == "a, b"


def test_exports_run_the_same_queries_for_10_rows_as_for_500(
    user, client_for, make_mailing, record_attempt
):
    client = client_for(user)
    mailing = make_mailing(user, recipients=0)
    friends = services.list_create(owner=user, name="Friends")

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
            rows = read_csv(response)
        assert rows
        return len(captured)

    def grow(n: int) -> None:
        start = Recipient.objects.count()
        Recipient.objects.bulk_create(
            Recipient(owner=user, email=f"x{start + i}@example.org", full_name="X")
            for i in range(n)
        )
        services.list_add_recipients(
            user=user,
            recipient_list=friends,
            recipient_ids=Recipient.objects.values_list("pk", flat=True),
        )
        for i in range(n):
            record_attempt(mailing, email=f"x{i}@example.org")

    grow(10)
    small = (
        queries(reverse("mailing:recipient_export")),
        queries(reverse("mailing:mailing_attempts_export", args=[mailing.pk])),
    )
    grow(490)
    large = (
        queries(reverse("mailing:recipient_export")),
        queries(reverse("mailing:mailing_attempts_export", args=[mailing.pk])),
    )

    assert small == large


def test_another_users_attempt_report_answers_404(user, other_user, client_for, make_mailing):
    theirs = make_mailing(other_user, recipients=1)
    url = reverse("mailing:mailing_attempts_export", args=[theirs.pk])
    assert client_for(user).get(url).status_code == 404
