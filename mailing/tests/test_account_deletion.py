"""Deleting an account deletes its campaigns with it, and the site's totals follow at once."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from mailing import selectors
from mailing.models import Attempt, Mailing, Message, Recipient
from users.models import User


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
