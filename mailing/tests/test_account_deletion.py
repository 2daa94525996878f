"""Deleting an account deletes its campaigns with it, and the site's totals follow at once:
by an administrator in Wagtail, or by the person themselves, confirmed with their password
(their runs in flight stop first, every row and their avatar file go)."""

import re

import pytest
from django.apps import apps
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import ForeignKey
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from core.roles import owner_lookup
from mailing import delivery, selectors
from mailing.delivery.policy import Decision
from mailing.models import (
    Attempt,
    Mailing,
    Membership,
    Message,
    Recipient,
    RecipientList,
    Run,
    Suppression,
)
from mailing.transport import Reply
from users import services as user_services
from users.models import User
from users.tests.test_profile import png


def home_totals(client: Client) -> tuple[int, int]:
    html = client.get("/").content.decode()
    mailings, recipients = (
        int(re.search(rf'data-testid="total-{name}">(\d+)<', html)[1])
        for name in ("mailings", "recipients")
    )
    return mailings, recipients


# Transactional: the cached totals are renewed when the deletion commits.
@pytest.mark.django_db(transaction=True)
def test_an_admin_deletes_an_account_with_campaigns_and_the_home_totals_drop(
    user, other_user, make_user, make_mailing, record_attempt
):
    mailing = make_mailing(user, recipients=3)
    record_attempt(mailing)
    make_mailing(other_user, recipients=1)
    admin = make_user("admin@example.com", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    visitor = Client()
    assert home_totals(visitor) == (2, 4)
    assert home_totals(visitor) == (2, 4)  # now from the cache

    response = client.post(reverse("wagtailusers_users:delete", args=[user.pk]))

    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Mailing.objects.filter(owner_id=user.pk).exists()
    assert not Message.objects.filter(owner_id=user.pk).exists()
    assert not Recipient.objects.filter(owner_id=user.pk).exists()
    assert not Attempt.objects.filter(mailing_id=mailing.pk).exists()
    assert home_totals(visitor) == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_deleting_an_owner_drops_the_managers_cached_view_of_their_data(
    user, manager, make_mailing
):
    make_mailing(user, recipients=2)
    # Both cached in the site's namespace.
    assert selectors.totals_for(user=manager).mailings == 1
    assert selectors.site_totals().mailings == 1

    User.objects.get(pk=user.pk).delete()

    assert selectors.totals_for(user=manager) == selectors.Totals(0, 0, 0)
    assert selectors.site_totals() == selectors.Totals(0, 0, 0)


# --- A person deletes their own account ------------------------------------------------------


def give_everything(user: User, make_mailing, record_attempt) -> Mailing:
    """`user` with a profile picture, recipients, a list with members, a suppression, a
    mailing with attempts and a run in flight."""
    user_services.user_profile_update(user=user, avatar=png())
    mailing = make_mailing(user, recipients=3)
    recipient = mailing.recipients.first()
    record_attempt(mailing, recipient=recipient, email=recipient.email)
    people = RecipientList.objects.create(owner=user, name="Friends", is_public=True)
    Membership.objects.create(list=people, recipient=recipient)
    mailing.lists.add(people)
    Suppression.objects.create(owner=user, email="gone@example.org", reason="unsubscribed")
    delivery.start_run(mailing=mailing)
    return mailing


def rows_of(user_id: int) -> dict[str, int]:
    """Every row of every model that points at the account (its own foreign keys to the user
    model, or the way the permission rule reaches an owner), counted."""
    counts: dict[str, int] = {}
    for model in apps.get_models():
        lookups = {
            field.name
            for field in model._meta.concrete_fields
            if isinstance(field, ForeignKey) and field.related_model is User
        }
        if model._meta.app_label == "mailing" and owner_lookup(model) != "owner":
            lookups.add(owner_lookup(model))
        if model is User:
            counts["users.User"] = User.objects.filter(pk=user_id).count()
        for lookup in lookups:
            count = model._default_manager.filter(**{f"{lookup}_id": user_id}).count()
            if count:
                counts[f"{model._meta.label}.{lookup}"] = count
    return {name: n for name, n in counts.items() if n}


def test_a_person_deletes_their_account_and_every_row_and_file_of_theirs_goes(
    user,
    other_user,
    manager,
    client_for,
    make_mailing,
    record_attempt,
    django_capture_on_commit_callbacks,
):
    give_everything(user, make_mailing, record_attempt)
    theirs = give_everything(other_user, make_mailing, record_attempt)
    user.refresh_from_db()
    avatar = user.avatar.name
    assert default_storage.exists(avatar)
    assert rows_of(user.pk)  # the check sees rows while there are some
    others_before = rows_of(other_user.pk)
    client = client_for(user)
    assert client.get(reverse("account_delete")).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("account_delete"), {"password": PASSWORD}, follow=True)

    assert response.redirect_chain[-1][0] == "/"
    assert "Your account and all its data are deleted." in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated
    assert rows_of(user.pk) == {}
    if connection.vendor == "postgresql":
        # Foreign keys are checked at commit, which this test's transaction never makes: check
        # them now, so a row left pointing at a deleted one fails here.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert not default_storage.exists(avatar)
    assert rows_of(other_user.pk) == others_before
    assert Run.objects.filter(mailing=theirs, finished_at__isnull=True).exists()
    boss = client_for(manager)
    for url in (
        reverse("users:user_list"),
        reverse("mailing:mailing_list"),
        reverse("mailing:recipient_list"),
        reverse("mailing:attempt_list"),
    ):
        assert user.email not in boss.get(url).content.decode(), url
    assert other_user.email in boss.get(reverse("users:user_list")).content.decode()


# Transactional: the late record commits on its own, as a sender's does (foreign keys are
# checked at commit).
@pytest.mark.django_db(transaction=True)
def test_a_message_a_sender_holds_while_the_account_goes_is_dropped_without_error(
    user, make_mailing
):
    mailing = make_mailing(user, recipients=3)
    delivery.start_run(mailing=mailing)
    claims = delivery.claim_batch(limit=1, lease_seconds=60)
    assert len(claims) == 1

    user_services.account_delete(user=user, password=PASSWORD)

    # Nothing of theirs is sendable any more, and the sender's late record writes nothing.
    assert not delivery.sendable_runs().exists()
    now = timezone.now()
    delivery.write_outcomes(
        [delivery.Outcome(claims[0], Reply(250, "2.0.0 Ok"), now, Decision("sent", None, "ok"))]
    )
    assert not Attempt.objects.filter(mailing_id=mailing.pk).exists()


def test_a_wrong_password_deletes_nothing_and_says_so_next_to_the_field(
    user, client_for, make_mailing
):
    make_mailing(user)
    response = client_for(user).post(reverse("account_delete"), {"password": "not it"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "This is not your password." in html
    assert 'name="password"' in html
    assert User.objects.filter(pk=user.pk).exists()
    assert Mailing.objects.filter(owner=user).count() == 1


def test_an_empty_password_or_a_get_deletes_nothing(user, client_for):
    client = client_for(user)
    assert client.post(reverse("account_delete"), {"password": ""}).status_code == 200
    client.get(reverse("account_delete"))
    assert User.objects.filter(pk=user.pk).exists()


def test_a_superuser_is_told_to_ask_another_administrator(make_user, client_for):
    admin = make_user("root@example.com", is_staff=True, is_superuser=True)
    response = client_for(admin).post(reverse("account_delete"), {"password": PASSWORD})
    assert "deleted by another administrator" in response.content.decode()
    assert User.objects.filter(pk=admin.pk).exists()


def test_the_delete_page_needs_a_signed_in_user():
    response = Client().post(reverse("account_delete"), {"password": PASSWORD})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_deletion_stops_every_open_run_first(user, make_mailing, monkeypatch):
    mailing = make_mailing(user, recipients=2)
    delivery.start_run(mailing=mailing)
    seen: list[str] = []
    cancel_runs = delivery.cancel_runs

    def watching(**kwargs):
        seen.append(kwargs["reason"])
        open_runs = kwargs["runs"].filter(finished_at__isnull=True).count()
        assert open_runs == 1  # still there: stopped before anything is deleted
        return cancel_runs(**kwargs)

    monkeypatch.setattr(delivery, "cancel_runs", watching)
    user_services.account_delete(user=user, password=PASSWORD)
    assert seen == ["the owner's account is being deleted"]
    assert not Mailing.objects.filter(pk=mailing.pk).exists()
