"""Dashboard forms: they parse and check what a person typed, nothing more."""

from typing import Any, cast

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from core.roles import objects_for
from users.models import User

from .models import Attempt, Mailing, Message, Recipient
from .validators import validate_recipient_email

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
DATETIME_INPUT_FORMATS = [DATETIME_FORMAT, "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]


# Dates people may type, kept well inside what every database and every time zone can hold:
# 0001-01-01 in a zone ahead of UTC, or 9999-12-31 behind it, has no UTC form, and a monthly
# mailing near the end of 9999 has no next occurrence.
MIN_YEAR, MAX_YEAR = 1900, 9000


def validate_calendar_range(value: Any) -> None:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise forms.ValidationError(
            _("Enter a date between the years %(min)d and %(max)d."),
            code="out_of_range",
            params={"min": MIN_YEAR, "max": MAX_YEAR},
        )


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format=DATETIME_FORMAT)


def _is_id(value: Any) -> bool:
    """A primary key as a form may post it: plain ASCII digits that fit a database integer."""
    text = str(value).strip()
    return text.isascii() and text.isdigit() and len(text) <= 18


class IdChoiceField(forms.ModelChoiceField):
    """A choice of the owner's rows whose posted id is refused as an invalid choice before
    any query when it is no id at all ("²", thirty nines: SQLite cannot even take those)."""

    def to_python(self, value: Any) -> Any:
        if value not in self.empty_values and not _is_id(value):
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            )
        return super().to_python(value)


class IdMultipleChoiceField(forms.ModelMultipleChoiceField):
    """`IdChoiceField` for several rows."""

    def _check_values(self, value: Any) -> Any:
        for item in value:
            if not _is_id(item):
                raise forms.ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": item},
                )
        return super()._check_values(value)  # type: ignore[misc]  # Django's, not in the stubs


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


# Input only: types, lengths, choices among the user's own rows. What the rules refuse (a taken
# address, an end before the first send, a time in the past...) is the services' to say: they
# raise a ValidationError naming the field, and the view shows it there.


class RecipientEmailField(forms.EmailField):
    """An address the engine can deliver to (`validators.validate_recipient_email`): a domain
    in Unicode is taken, a part before "@" outside ASCII only when MAILING_SMTPUTF8 says the
    relay takes it, with the reason when not."""

    default_validators = [validate_recipient_email]


class RecipientForm(forms.Form):
    email = RecipientEmailField(label=_("Email"), max_length=254)
    full_name = forms.CharField(label=_("Full name"), max_length=200)
    comment = forms.CharField(
        label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class MessageForm(forms.Form):
    subject = forms.CharField(
        label=_("Subject"), max_length=255, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    body = forms.CharField(label=_("Body"), widget=forms.Textarea(attrs={"rows": 12}))


class MailingForm(forms.Form):
    message = IdChoiceField(label=_("Message"), queryset=Message.objects.none())
    all_recipients = forms.BooleanField(
        required=False,
        label=_("Send to all my recipients"),
        help_text=_("Every recipient you have now; the list below is then ignored."),
    )
    recipients = IdMultipleChoiceField(
        label=_("Recipients"),
        queryset=Recipient.objects.none(),
        required=False,
        widget=LongSelectMultiple(attrs={"size": 10}),
        help_text=_("Hold Ctrl (⌘ on a Mac) to pick several."),
    )
    first_send_at = forms.DateTimeField(
        label=_("First send"),
        validators=[validate_calendar_range],
        widget=DateTimeInput(),
        input_formats=DATETIME_INPUT_FORMATS,
        help_text=_("A time in the past sends at once when the mailing starts; Save asks first."),
    )
    end_at = forms.DateTimeField(
        label=_("End"),
        validators=[validate_calendar_range],
        widget=DateTimeInput(),
        input_formats=DATETIME_INPUT_FORMATS,
        help_text=_("No occurrence is sent after this time."),
    )
    periodicity = forms.ChoiceField(
        label=_("Periodicity"),
        choices=Mailing.Periodicity.choices,
        initial=Mailing.Periodicity.ONCE,
    )
    # New mailings only (the edit page removes it). Left out of a post, it starts.
    start = forms.ChoiceField(
        label=_("When saved"),
        choices=[
            ("start", _("Start it: send as planned")),
            ("draft", _("Keep it as a draft: send nothing until I schedule it or press Send now")),
        ],
        widget=forms.RadioSelect,
        required=False,
        initial="start",
    )

    def clean_start(self) -> bool:
        return self.cleaned_data.get("start") != "draft"

    reply_to = forms.EmailField(
        label=_("Reply-To"),
        required=False,
        max_length=254,
        help_text=_("Where replies to this mailing go; empty: your own address."),
    )

    def __init__(self, *args: Any, owner: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the owner's rows are offered, and only they validate: a tampered id is refused.
        cast(forms.ModelChoiceField, self.fields["message"]).queryset = objects_for(owner, Message)
        cast(forms.ModelMultipleChoiceField, self.fields["recipients"]).queryset = objects_for(
            owner, Recipient
        )


class ScheduleForm(forms.Form):
    send_at = forms.DateTimeField(
        label=_("Next send"),
        widget=DateTimeInput(),
        input_formats=[DATETIME_FORMAT],
        validators=[validate_calendar_range],
    )


class AttemptFilterForm(forms.Form):
    mailing = IdChoiceField(
        label=_("Mailing"),
        queryset=Mailing.objects.none(),
        required=False,
        empty_label=_("Any mailing"),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", _("Any status")), *Attempt.Status.choices],
        required=False,
    )
    date_from = forms.DateField(
        required=False,
        label=_("From"),
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_calendar_range],
    )
    date_to = forms.DateField(
        required=False,
        label=_("To"),
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_calendar_range],
    )

    def __init__(self, *args, mailings, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        mailing = cast(forms.ModelChoiceField, self.fields["mailing"])
        mailing.queryset = mailings
        mailing.label_from_instance = lambda obj: f"#{obj.pk} {obj.message.subject}"  # type: ignore[method-assign]
