from django import forms

from .models import User


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["first_name", "last_name", "avatar", "phone", "country"]
        widgets = {
            "avatar": forms.ClearableFileInput(attrs={"accept": "image/*"}),
            "phone": forms.TextInput(attrs={"placeholder": "+44 20 7946 0958", "type": "tel"}),
        }
