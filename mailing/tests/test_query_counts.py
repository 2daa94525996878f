"""Each page runs the same number of queries with 1 row as with 50: no N+1 anywhere."""

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mailing import cache, delivery
from mailing.models import Attempt, Message, Recipient
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def queries_for(django_capture_on_commit_callbacks) -> Callable[[Client, str], int]:
    def count(client: Client, url: str) -> int:
        # Measure the database path, not cached lists: drop every dashboard namespace (but
        # not the whole cache, which holds the session when Redis is configured). A bump
        # waits for the commit, which this test's transaction never makes: run it now.
        with django_capture_on_commit_callbacks(execute=True):
            for owner_id in User.objects.values_list("pk", flat=True):
                cache.bump(owner_id=owner_id)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, url
        return len(captured)

    return count


@pytest.fixture
def fill(user, make_mailing, record_attempt) -> Callable[[str, int], str]:
    """Create `n` rows of what a page lists; return the page's URL."""

    def make(page: str, n: int) -> str:
        if page == "recipients":
            start = Recipient.objects.count()
            Recipient.objects.bulk_create(
                Recipient(owner=user, email=f"p{start + i}@example.org", full_name="P")
                for i in range(n)
            )
            return reverse("mailing:recipient_list")
        if page == "messages":
            Message.objects.bulk_create(
                Message(owner=user, subject=f"S {i}", body="B") for i in range(n)
            )
            return reverse("mailing:message_list")
        mailings = [make_mailing(user, recipients=2, subject=f"M {i}") for i in range(n)]
        for mailing in mailings:
            record_attempt(mailing, email=f"{mailing.pk}@example.org")
            record_attempt(
                mailing, email=f"{mailing.pk}@example.org", status=Attempt.Status.FAILURE
            )
        if page == "mailings":
            return reverse("mailing:mailing_list")
        if page == "dashboard":
            return reverse("mailing:dashboard")
        if page == "attempts":
            return reverse("mailing:attempt_list")
        if page == "mailing":
            target = mailings[0]
            for _ in range(n):
                record_attempt(target, email="again@example.org")
            delivery.start_run(mailing=target)
            return reverse("mailing:mailing_detail", args=[target.pk])
        if page == "message":
            message = mailings[0].message
            for mailing in mailings[1:]:
                mailing.message = message
                mailing.save(update_fields=["message"])
            return reverse("mailing:message_detail", args=[message.pk])
        raise ValueError(page)

    return make


@pytest.mark.parametrize(
    "page", ["dashboard", "recipients", "messages", "mailings", "mailing", "message", "attempts"]
)
def test_page_queries_do_not_grow_with_rows(user, client_for, fill, queries_for, page):
    client = client_for(user)
    one = queries_for(client, fill(page, 1))
    fifty = queries_for(client, fill(page, 50))  # 51 rows now
    assert fifty == one, f"{page}: {one} queries with 1 row, {fifty} with 50"


def test_the_managers_views_do_not_grow_with_rows(
    manager, client_for, make_user, make_mailing, queries_for
):
    client = client_for(manager)
    owner = make_user("first@example.org")
    make_mailing(owner, recipients=1)
    urls = [
        reverse("users:user_list"),
        reverse("mailing:mailing_list"),
        reverse("mailing:attempt_list"),
    ]
    one = [queries_for(client, url) for url in urls]
    for i in range(49):
        make_mailing(make_user(f"u{i}@example.org"), recipients=1)
    fifty = [queries_for(client, url) for url in urls]
    assert fifty == one
    assert User.objects.count() == 51
