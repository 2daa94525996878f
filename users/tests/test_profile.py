"""The profile page: names, phone, country and an avatar that must be a real, small image."""

import io
import re

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from users.models import User

PROFILE = reverse("profile")


def png(size: tuple[int, int] = (16, 16), name: str = "me.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def noisy_png(side: int) -> SimpleUploadedFile:
    """A PNG that does not compress: random pixels, about 3 bytes each."""
    image = Image.frombytes("RGB", (side, side), bytes(range(256)) * (3 * side * side // 256 + 1))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=0)
    return SimpleUploadedFile("big.png", buffer.getvalue(), content_type="image/png")


def form_data(**overrides) -> dict:
    data = {
        "first_name": "Alice",
        "last_name": "Liddell",
        "phone": "+44 20 7946 0958",
        "country": "GB",
    }
    data.update(overrides)
    return data


def error_next_to(html: str, field: str) -> str:
    """The error text rendered in `field`'s block of the form."""
    match = re.search(rf'id="id_{field}_error"[^>]*>(.*?)</div>\s*</div>', html, re.S)
    assert match, f"no error block for {field}"
    return re.sub(r"<[^>]+>", " ", match.group(1)).strip()


@pytest.mark.django_db
def test_the_profile_needs_a_signed_in_user(client):
    response = client.get(PROFILE)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.django_db
def test_names_phone_and_country_are_saved_and_shown(user, client_for):
    client = client_for(user)

    response = client.post(PROFILE, form_data(), follow=True)

    assert response.redirect_chain == [(PROFILE, 302)]
    assert "Your profile has been saved." in [str(m) for m in response.context["messages"]]
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Alice", "Liddell")
    assert user.phone == "+44 20 7946 0958"
    assert user.country.code == "GB"
    html = response.content.decode()
    assert "Alice Liddell" in html
    assert "+44 20 7946 0958" in html
    assert "United Kingdom" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.txt", b"just some text"),
        ("photo.png", b"not really a PNG, only named like one"),
        ("page.html", b"<html><script>alert(1)</script></html>"),
    ],
)
def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_saved(
    user, client_for, name, content
):
    upload = SimpleUploadedFile(name, content, content_type="image/png")

    response = client_for(user).post(PROFILE, form_data(first_name="Changed", avatar=upload))

    assert response.status_code == 200
    error = error_next_to(response.content.decode(), "avatar")
    assert "image" in error.lower()
    user.refresh_from_db()
    assert user.first_name == "Alice"
    assert not user.avatar


@pytest.mark.django_db
def test_an_image_over_the_size_limit_is_refused(user, client_for, settings):
    settings.AVATAR_MAX_BYTES = 50_000
    upload = noisy_png(200)  # about 120 kB
    assert upload.size > settings.AVATAR_MAX_BYTES

    response = client_for(user).post(PROFILE, form_data(first_name="Changed", avatar=upload))

    assert response.status_code == 200
    error = error_next_to(response.content.decode(), "avatar")
    assert "largest allowed is 48.8\xa0KB" in error
    user.refresh_from_db()
    assert user.first_name == "Alice"
    assert not user.avatar


@pytest.mark.django_db
def test_a_refused_form_still_shows_what_is_saved(user, client_for, settings):
    settings.AVATAR_MAX_BYTES = 50_000

    response = client_for(user).post(
        PROFILE, form_data(first_name="Changed", avatar=noisy_png(200))
    )

    html = response.content.decode()
    card = re.search(r'data-testid="profile-avatar">.*?</h1>', html, re.S)[0]
    navbar = re.search(r'data-testid="account-menu">.*?</a>', html, re.S)[0]
    assert "<img" not in card  # no link to the refused file, which was never stored
    assert "<img" not in navbar
    assert "Changed" not in card
    assert "Alice" in card
    # The form keeps what was typed, so it can be corrected.
    assert re.search(r'<input[^>]*name="first_name"[^>]*value="Changed"', html)


@pytest.mark.django_db
def test_the_size_limit_shown_next_to_the_field_follows_the_setting(user, client_for, settings):
    settings.AVATAR_MAX_BYTES = 500 * 1024

    html = client_for(user).get(PROFILE).content.decode()

    assert "at most 500.0\xa0KB" in html


@pytest.mark.django_db
def test_a_small_png_is_accepted_and_shown(user, client_for):
    client = client_for(user)

    response = client.post(PROFILE, form_data(avatar=png()), follow=True)

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.avatar.name.startswith("avatars/")
    assert user.avatar.name.endswith(".png")
    avatar_block = re.search(
        r'data-testid="profile-avatar">(.*?)</div>', response.content.decode(), re.S
    )[1]
    assert f'src="{user.avatar.url}"' in avatar_block
    served = client.get(user.avatar.url)
    assert served.status_code == 200
    assert Image.open(io.BytesIO(b"".join(served.streaming_content))).size == (16, 16)


@pytest.mark.django_db
def test_saving_other_fields_keeps_the_avatar(user, client_for, settings):
    client = client_for(user)
    client.post(PROFILE, form_data(avatar=png()))
    user.refresh_from_db()
    avatar = user.avatar.name
    # The limit may be lowered later: an avatar already accepted is not checked again.
    settings.AVATAR_MAX_BYTES = 10

    response = client.post(PROFILE, form_data(first_name="Alicia"))

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.first_name, user.avatar.name) == ("Alicia", avatar)


@pytest.mark.django_db
def test_the_avatar_can_be_removed(user, client_for):
    client = client_for(user)
    client.post(PROFILE, form_data(avatar=png()))
    page = client.get(PROFILE).content.decode()
    assert re.search(r'<input class="form-check-input" type="checkbox" name="avatar-clear"', page)

    client.post(PROFILE, form_data(**{"avatar-clear": "on"}))

    user.refresh_from_db()
    assert not user.avatar
    assert (
        "<img"
        not in re.search(
            r'data-testid="profile-avatar">.*?</div>', client.get(PROFILE).content.decode(), re.S
        )[0]
    )


@pytest.mark.django_db
@pytest.mark.parametrize("phone", ["call me", "12", "+44 20 7946 x958", "++4420794609"])
def test_an_invalid_phone_number_is_refused(user, client_for, phone):
    response = client_for(user).post(PROFILE, form_data(phone=phone, first_name="Changed"))

    assert response.status_code == 200
    assert "phone number" in error_next_to(response.content.decode(), "phone")
    assert User.objects.get(pk=user.pk).first_name == "Alice"


def image_upload(name: str, kind: str, size: tuple[int, int] = (16, 16), mode: str = "RGB"):
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format=kind)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "kind"), [("photo.png", "BMP"), ("photo.jpg", "TIFF"), ("photo.gif", "ICO")]
)
def test_an_image_of_another_format_is_refused_whatever_its_name(user, client_for, name, kind):
    response = client_for(user).post(PROFILE, form_data(avatar=image_upload(name, kind)))

    assert response.status_code == 200
    error = error_next_to(response.content.decode(), "avatar")
    assert f"This is a {kind} image; upload a JPEG, PNG, GIF or WebP picture." in error
    user.refresh_from_db()
    assert not user.avatar


@pytest.mark.django_db
# Pillow warns about such a picture as it opens it: what the validator then refuses.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_small_file_of_a_huge_picture_is_refused(user, client_for):
    upload = image_upload("huge.png", "PNG", size=(12000, 12000), mode="1")
    assert upload.size < 50_000  # a few kilobytes, far under the byte limit

    response = client_for(user).post(PROFILE, form_data(avatar=upload))

    assert response.status_code == 200
    error = error_next_to(response.content.decode(), "avatar")
    assert "12000 by 12000 pixels; the largest allowed is 4096 by 4096" in error
    user.refresh_from_db()
    assert not user.avatar


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "kind"), [("me.jpg", "JPEG"), ("me.gif", "GIF"), ("me.webp", "WEBP")]
)
def test_jpeg_gif_and_webp_are_accepted(user, client_for, name, kind):
    response = client_for(user).post(PROFILE, form_data(avatar=image_upload(name, kind)))

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.avatar.name.endswith(name.rsplit(".", 1)[1])


@pytest.mark.django_db
def test_the_file_picker_offers_only_the_accepted_types(user, client_for):
    html = client_for(user).get(PROFILE).content.decode()

    [avatar_input] = re.findall(r'<input[^>]*name="avatar"[^>]*>', html)
    assert 'accept="image/jpeg,image/png,image/gif,image/webp"' in avatar_input


def stored(name: str) -> bool:
    return default_storage.exists(name)


@pytest.mark.django_db
def test_a_replaced_avatar_file_is_deleted_once_the_change_is_committed(
    user, client_for, django_capture_on_commit_callbacks
):
    client = client_for(user)
    client.post(PROFILE, form_data(avatar=png(name="first.png")))
    user.refresh_from_db()
    first = user.avatar.name

    with django_capture_on_commit_callbacks() as callbacks:
        client.post(PROFILE, form_data(avatar=png(name="second.png")))
        assert stored(first)  # still there until the commit
    for callback in callbacks:
        callback()

    user.refresh_from_db()
    assert user.avatar.name.endswith("second.png")
    assert stored(user.avatar.name)
    assert not stored(first)


@pytest.mark.django_db
def test_a_removed_avatar_file_is_deleted(user, client_for, django_capture_on_commit_callbacks):
    client = client_for(user)
    client.post(PROFILE, form_data(avatar=png()))
    user.refresh_from_db()
    avatar = user.avatar.name

    with django_capture_on_commit_callbacks(execute=True):
        client.post(PROFILE, form_data(**{"avatar-clear": "on"}))

    assert not stored(avatar)


@pytest.mark.django_db
def test_saving_without_touching_the_avatar_keeps_its_file(
    user, client_for, django_capture_on_commit_callbacks
):
    client = client_for(user)
    client.post(PROFILE, form_data(avatar=png()))
    user.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(PROFILE, form_data(first_name="Alicia"))
        user.refresh_from_db()
        user.save()

    assert stored(user.avatar.name)


@pytest.mark.django_db
def test_a_deleted_accounts_avatar_file_is_deleted(
    user, client_for, django_capture_on_commit_callbacks
):
    client_for(user).post(PROFILE, form_data(avatar=png()))
    user.refresh_from_db()
    avatar = user.avatar.name

    with django_capture_on_commit_callbacks(execute=True):
        User.objects.get(pk=user.pk).delete()

    assert not stored(avatar)
