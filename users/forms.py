from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from .models import User
from .validators import AVATAR_FORMATS, AVATAR_MAX_SIDE


class AvatarInput(forms.ClearableFileInput):
    """The current picture, a Bootstrap "remove" checkbox and the file input, on two lines."""

    template_name = "users/widgets/avatar_input.html"
    initial_text = "Current"


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["first_name", "last_name", "avatar", "phone", "country"]
        widgets = {
            "avatar": AvatarInput(attrs={"accept": ",".join(AVATAR_FORMATS.values())}),
            "phone": forms.TextInput(attrs={"placeholder": "+44 20 7946 0958", "type": "tel"}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The byte limit is a setting; the model's help text cannot follow it.
        limit = filesizeformat(settings.AVATAR_MAX_BYTES)
        pixels = f"{AVATAR_MAX_SIDE} by {AVATAR_MAX_SIDE} pixels"
        self.fields["avatar"].help_text = f"JPEG, PNG, GIF or WebP, at most {limit} and {pixels}."
