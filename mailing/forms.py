from django import forms
from django.forms.utils import flatatt
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from . import selectors
from .models import Attempt, Mailing, Message, Recipient
from .permissions import objects_for

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
DUPLICATE_EMAIL = "You already have a recipient with this address."


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format=DATETIME_FORMAT)


class LongSelectMultiple(forms.SelectMultiple):
    """Django's `<select multiple>` (same element, attributes and options), written in one pass.

    Django renders every option through a template of its own: for an owner with 10,000
    recipients that took the mailing form over a second. Plain options only (no groups), which
    is all a queryset's choices are."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        chosen = set(self.format_value(value))
        selected = mark_safe(" selected")
        options = format_html_join(
            "\n",
            '<option value="{}"{}>{}</option>',
            ((str(v), selected if str(v) in chosen else "", label) for v, label in self.choices),
        )
        final_attrs = self.build_attrs(self.attrs, {**(attrs or {}), "name": name})
        return format_html("<select{} multiple>\n{}\n</select>", flatatt(final_attrs), options)


class OwnedModelForm(forms.ModelForm):
    """A form for a row the user owns; `owner` is set by the service, never by the form."""

    def __init__(self, *args, owner, **kwargs) -> None:
        self.owner = owner
        super().__init__(*args, **kwargs)


class RecipientForm(OwnedModelForm):
    class Meta:
        model = Recipient
        fields = ["email", "full_name", "comment"]
        widgets = {"comment": forms.Textarea(attrs={"rows": 3})}

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if selectors.recipient_email_taken(
            owner=self.owner, email=email, exclude_pk=self.instance.pk
        ):
            raise forms.ValidationError(DUPLICATE_EMAIL)
        return email


class MessageForm(OwnedModelForm):
    class Meta:
        model = Message
        fields = ["subject", "body"]
        widgets = {
            "subject": forms.TextInput(attrs={"autocomplete": "off"}),
            "body": forms.Textarea(attrs={"rows": 12}),
        }


class MailingForm(OwnedModelForm):
    all_recipients = forms.BooleanField(
        required=False,
        label="Send to all my recipients",
        help_text="Every recipient you have now; the list below is then ignored.",
    )

    field_order = [
        "message",
        "all_recipients",
        "recipients",
        "first_send_at",
        "end_at",
        "periodicity",
    ]

    class Meta:
        model = Mailing
        fields = ["message", "recipients", "first_send_at", "end_at", "periodicity"]
        widgets = {
            "first_send_at": DateTimeInput(),
            "end_at": DateTimeInput(),
            "recipients": LongSelectMultiple(attrs={"size": 10}),
        }
        help_texts = {
            "first_send_at": "A time in the past sends as soon as the mailing is saved.",
            "end_at": "No occurrence is sent after this time.",
            "recipients": "Hold Ctrl (⌘ on a Mac) to pick several.",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only the owner's rows are offered, and only they validate: a tampered id is refused.
        self.fields["message"].queryset = objects_for(self.owner, Message)
        self.fields["recipients"].queryset = objects_for(self.owner, Recipient)
        self.fields["recipients"].required = False
        for name in ("first_send_at", "end_at"):
            self.fields[name].input_formats = [
                DATETIME_FORMAT,
                "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%d %H:%M",
            ]

    def clean(self) -> dict:
        cleaned = super().clean()
        first_send_at, end_at = cleaned.get("first_send_at"), cleaned.get("end_at")
        if first_send_at and end_at:
            if end_at <= first_send_at:
                self.add_error("end_at", "The end must come after the first send.")
            elif end_at <= timezone.now() and (
                not self.instance.pk or "end_at" in self.changed_data
            ):
                self.add_error("end_at", "The end is already in the past.")
        if (
            not cleaned.get("all_recipients")
            and not cleaned.get("recipients")
            and "recipients" not in self.errors
        ):
            self.add_error("recipients", "Choose at least one recipient, or send to all of them.")
        return cleaned


class ScheduleForm(forms.Form):
    send_at = forms.DateTimeField(
        label="Next send", widget=DateTimeInput(), input_formats=[DATETIME_FORMAT]
    )

    def __init__(self, *args, mailing: Mailing, **kwargs) -> None:
        self.mailing = mailing
        super().__init__(*args, **kwargs)

    def clean_send_at(self):
        send_at = self.cleaned_data["send_at"]
        if send_at <= timezone.now():
            raise forms.ValidationError("Choose a time in the future.")
        if send_at >= self.mailing.end_at:
            raise forms.ValidationError("Choose a time before the mailing's end.")
        return send_at


class AttemptFilterForm(forms.Form):
    mailing = forms.ModelChoiceField(
        queryset=Mailing.objects.none(), required=False, empty_label="Any mailing"
    )
    status = forms.ChoiceField(
        choices=[("", "Any status"), *Attempt.Status.choices], required=False
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, mailings, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mailing"].queryset = mailings
        self.fields["mailing"].label_from_instance = lambda m: f"#{m.pk} {m.message.subject}"
