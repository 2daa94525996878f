"""The account services called with plain values, no form: the profile, block and unblock."""

import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from mailing import delivery
from mailing.models import Attempt, Mailing
from users import services
from users.models import User

pytestmark = pytest.mark.django_db


def png() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 90)).save(buffer, format="PNG")
    return SimpleUploadedFile("me.png", buffer.getvalue(), content_type="image/png")


def test_a_profile_update_writes_only_what_it_is_given(user):
    User.objects.filter(pk=user.pk).update(phone="+44 20 7946 0958", country="GB")
    account = User.objects.get(pk=user.pk)

    services.user_profile_update(user=account, last_name="Liddell", avatar=png())

    stored = User.objects.get(pk=user.pk)
    assert (stored.first_name, stored.last_name, stored.phone, stored.country.code) == (
        "Alice",
        "Liddell",
        "+44 20 7946 0958",
        "GB",
    )
    assert stored.avatar.name.endswith(".png")

    services.user_profile_update(user=stored, avatar=None)
    assert not User.objects.get(pk=user.pk).avatar


def test_a_profile_update_names_the_refused_field_and_saves_nothing(user):
    account = User.objects.get(pk=user.pk)
    not_an_image = SimpleUploadedFile("me.png", b"GIF89a? no", content_type="image/png")

    with pytest.raises(ValidationError) as refused:
        services.user_profile_update(
            user=account, first_name="Changed", phone="call me", avatar=not_an_image
        )

    assert set(refused.value.message_dict) == {"phone", "avatar"}
    stored = User.objects.get(pk=user.pk)
    assert (stored.first_name, stored.phone, stored.avatar.name) == ("Alice", "", "")


def test_a_profile_update_takes_profile_fields_only(user):
    with pytest.raises(TypeError, match="is_blocked"):
        services.user_profile_update(user=user, is_blocked=False)  # type: ignore[call-arg]


def test_blocking_holds_the_accounts_mailings_and_unblocking_gives_them_back(
    user, manager, make_mailing
):
    running = make_mailing(user, recipients=2)
    delivery.start_run(mailing=running)

    services.user_block(actor=manager, user=user)

    user.refresh_from_db()
    assert user.is_blocked and user.blocked_by == manager
    assert Mailing.objects.get(pk=running.pk).status == Mailing.Status.LAUNCHED
    assert not Attempt.objects.filter(mailing=running).exists()  # nothing cancelled

    services.user_unblock(actor=manager, user=user)
    user.refresh_from_db()
    assert not user.is_blocked and user.blocked_by is None
    assert Mailing.objects.get(pk=running.pk).status == Mailing.Status.LAUNCHED  # goes on
    assert delivery.sendable_runs(mailing_id=running.pk).exists()


def test_only_a_manager_blocks_and_never_staff(user, other_user, manager, make_user):
    staff = make_user("staff@example.com", is_staff=True)

    with pytest.raises(PermissionDenied, match="Only managers can block users"):
        services.user_block(actor=user, user=other_user)
    with pytest.raises(PermissionDenied, match="Staff accounts cannot be blocked"):
        services.user_block(actor=manager, user=staff)
    with pytest.raises(PermissionDenied, match="Only managers can unblock users"):
        services.user_unblock(actor=user, user=other_user)

    assert not User.objects.filter(is_blocked=True).exists()
    assert not User.objects.filter(blocked_at__isnull=False).exists()
