"""'Download my data': a ZIP of everything held about the person, and nothing of anyone else's."""

import csv
import io
import json
import tempfile
import tracemalloc
import zipfile

import pytest
from django.test import Client
from django.urls import reverse

from mailing.models import Recipient
from mailing.tests.test_account_deletion import give_everything
from users.personal_data import write_personal_data

pytestmark = pytest.mark.django_db

URL = reverse("personal_data")


def read_csv(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"))))


def download(client: Client) -> zipfile.ZipFile:
    response = client.post(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="my-data-')
    return zipfile.ZipFile(io.BytesIO(response.getvalue()))


def test_the_archive_holds_the_profile_and_everything_the_person_owns(
    user, other_user, client_for, make_mailing, record_attempt
):
    mailing = give_everything(user, make_mailing, record_attempt)
    give_everything(other_user, make_mailing, record_attempt)
    Recipient.objects.filter(owner=user).update(full_name="Пётр Иванов")
    user.refresh_from_db()

    archive = download(client_for(user))

    names = set(archive.namelist())
    profile = json.loads(archive.read("profile.json"))
    assert profile["email"] == user.email and profile["first_name"] == "Alice"
    assert profile["email_addresses"] == [{"email": user.email, "verified": True, "primary": True}]
    assert profile["avatar"] == user.avatar.name
    with user.avatar.open("rb") as picture:
        assert archive.read(f"avatar/{user.avatar.name.rsplit('/', 1)[-1]}") == picture.read()

    recipients = read_csv(archive, "recipients.csv")
    assert {row["email"] for row in recipients} == set(
        Recipient.objects.filter(owner=user).values_list("email", flat=True)
    )
    assert {row["full_name"] for row in recipients} == {"Пётр Иванов"}
    assert [row["subject"] for row in read_csv(archive, "messages.csv")] == ["Hello"]
    mailings = read_csv(archive, "mailings.csv")
    assert [(row["id"], row["message_id"]) for row in mailings] == [
        (str(mailing.pk), str(mailing.message_id))
    ]
    assert len(read_csv(archive, "mailing_recipients.csv")) == 3
    assert len(read_csv(archive, "mailing_lists.csv")) == 1
    attempts = read_csv(archive, "attempts.csv")
    assert len(attempts) == 1 and attempts[0]["mailing_id"] == str(mailing.pk)
    assert [row["name"] for row in read_csv(archive, "recipientlist.csv")] == ["Friends"]
    memberships = read_csv(archive, "membership.csv")
    assert len(memberships) == 1 and memberships[0]["status"] == "confirmed"
    assert [row["email"] for row in read_csv(archive, "suppressions.csv")] == ["gone@example.org"]
    everything = b"".join(archive.read(name) for name in names)
    assert other_user.email.encode() not in everything
    assert b"pbkdf2" not in everything and b"password" not in everything


def test_an_account_with_nothing_gets_the_files_with_their_headers_only(user, client_for):
    archive = download(client_for(user))
    assert read_csv(archive, "recipients.csv") == []
    assert (
        archive.read("recipients.csv")
        .decode("utf-8-sig")
        .startswith("id,created_at,updated_at,email,")
    )


def test_the_download_is_a_post_for_the_signed_in_person(user, client_for):
    assert client_for(user).get(URL).status_code == 405
    response = Client().post(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_profile_page_offers_the_download_and_the_deletion(user, client_for):
    html = client_for(user).get(reverse("profile")).content.decode()
    assert f'action="{URL}"' in html
    assert reverse("account_delete") in html


def _peak_bytes(user, rows: int) -> int:
    have = Recipient.objects.filter(owner=user).count()
    Recipient.objects.bulk_create(
        Recipient(owner=user, email=f"m{i}@example.org", full_name=f"Person {i}" * 3)
        for i in range(have, rows)
    )
    with tempfile.TemporaryFile() as file:
        tracemalloc.start()
        try:
            write_personal_data(user=user, file=file)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_memory_stays_flat_in_the_number_of_rows(user):
    small = _peak_bytes(user, 4_000)
    large = _peak_bytes(user, 16_000)
    # Four times the rows; the peak is one chunk of rows, whatever the total.
    assert large < small * 1.3, (small, large)
