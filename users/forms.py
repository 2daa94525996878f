from typing import cast

from allauth.account.adapter import get_adapter
from allauth.account.forms import ResetPasswordForm as AllauthResetPasswordForm
from allauth.account.internal.userkit import filter_users_by_email
from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from .models import User
from .validators import AVATAR_FORMATS, AVATAR_MAX_SIDE, available_time_zones


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in available_time_zones()]


class AvatarInput(forms.ClearableFileInput):
    """The current picture, a Bootstrap "remove" checkbox and the file input, on two lines."""

    template_name = "users/widgets/avatar_input.html"
    initial_text = cast(str, _("Current"))


class ProfileForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=time_zone_choices,
        # Left out of a submission (an older form, a script): the zone stays what it was.
        required=False,
        help_text=_("Times you see and enter are in this time zone."),
    )

    class Meta:
        model = User
        fields = ["first_name", "last_name", "avatar", "phone", "country", "language", "time_zone"]
        widgets = {
            "avatar": AvatarInput(attrs={"accept": ",".join(AVATAR_FORMATS.values())}),
            "phone": forms.TextInput(attrs={"placeholder": "+44 20 7946 0958", "type": "tel"}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The byte limit is a setting; the model's help text cannot follow it.
        limit = filesizeformat(settings.AVATAR_MAX_BYTES)
        self.fields["avatar"].help_text = _(
            "JPEG, PNG, GIF or WebP, at most %(limit)s and %(side)s by %(side)s pixels."
        ) % {"limit": limit, "side": AVATAR_MAX_SIDE}
        cast(forms.ChoiceField, self.fields["language"]).choices = [
            ("", _("Your browser's language")),
            *settings.LANGUAGES,
        ]

    def clean_time_zone(self) -> str:
        return self.cleaned_data["time_zone"] or self.instance.time_zone


class ResetPasswordForm(AllauthResetPasswordForm):
    """allauth's password reset form, answering alike whether the address has an account.

    With ACCOUNT_PREVENT_ENUMERATION off (for the sign-up form's sake, see settings), allauth's
    form says "not assigned to any user account". Here an unknown address is accepted like a
    known one: the same redirect and page, and a mail to the address either way (allauth's
    "unknown account" mail, which says no account uses it and links to sign-up)."""

    def clean_email(self) -> str:
        email = get_adapter().clean_email(self.cleaned_data["email"].lower())
        self.users = filter_users_by_email(
            email, is_active=True, prefer_verified=True, for_login=True
        )
        return self.cleaned_data["email"]
