"""Dashboard forms: they parse and check what a person typed, nothing more."""

from typing import Any, cast

from django import forms
from django.forms.utils import flatatt
from django.utils.functional import lazy
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.roles import objects_for
from users.models import User

from .models import Attempt, Mailing, Message, Recipient, RecipientList
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


class PickerInput(forms.Widget):
    """A searchable picker of the owner's recipients or lists (static/js/picker.js): one
    hidden input holding the chosen ids, comma-separated, and a search box that asks
    `mailing:audience_search` for at most a page of matches.

    The page carries the chosen ids and the labels of the first `SHOWN` of them, never every
    row the owner has; one field however many are chosen, so choosing 10,000 stays one of
    DATA_UPLOAD_MAX_NUMBER_FIELDS. Repeated fields of the same name (`name=1&name=2`) are read
    too."""

    SHOWN = 50
    choices: Any = ()  # set by the ModelMultipleChoiceField: its queryset labels the chips

    def __init__(self, *, kind: str, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs)
        self.kind = kind

    def value_from_datadict(self, data, files, name) -> list[str]:
        if hasattr(data, "getlist"):
            values = data.getlist(name)
        else:  # a plain dict, as tests and scripts pass: one value, or a list of them
            given = data.get(name)
            values = list(given) if isinstance(given, (list, tuple)) else [given or ""]
        return [part.strip() for value in values for part in str(value).split(",") if part.strip()]

    def value_omitted_from_data(self, data, files, name) -> bool:
        return name not in data

    def format_value(self, value: Any) -> list[str]:  # type: ignore[override]
        if value is None or value == "":
            return []
        if not isinstance(value, (list, tuple, set)):
            value = [value]
        return [str(getattr(item, "pk", item)) for item in value]

    def id_for_label(self, id_: str) -> str:
        # The label names the search box, the one control a person types in.
        return f"{id_}_search" if id_ else id_

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        from django.urls import reverse

        ids = self.format_value(value)
        attrs = self.build_attrs(self.attrs, attrs or {})
        base_id = attrs.pop("id", f"id_{name}")
        shown_ids = [int(pk) for pk in ids[: self.SHOWN] if _is_id(pk)]
        queryset = getattr(self.choices, "queryset", None)
        labels = {}
        if queryset is not None and shown_ids:
            labels = {obj.pk: str(obj) for obj in queryset.filter(pk__in=shown_ids)}
        chips = format_html_join(
            "",
            '<li class="badge rounded-pill text-bg-light border d-inline-flex align-items-center gap-1"'
            ' data-id="{}"><span class="text-truncate">{}</span><button type="button" '
            'class="btn-close" data-picker-remove aria-label="{}"></button></li>',
            ((pk, labels[pk], _("Remove")) for pk in shown_ids if pk in labels),
        )
        more = len(ids) - len(labels)
        more_text = (
            format_html(
                '<span class="small text-body-secondary" data-picker-more>{}</span>',
                _("and %(count)s more") % {"count": f"{more:,}"},
            )
            if more > 0
            else ""
        )
        search_attrs = {
            **attrs,
            "type": "search",
            "id": f"{base_id}_search",
            "autocomplete": "off",
            "placeholder": str(
                _("Type to search your lists")
                if self.kind == "list"
                else _("Type to search your recipients")
            ),
            "aria-controls": f"{base_id}_results",
            "data-picker-search": "",
        }
        return format_html(
            '<div class="picker" data-picker data-kind="{kind}" data-search-url="{url}">'
            '<input type="hidden" name="{name}" id="{id}" value="{value}" data-picker-value>'
            '<ul class="list-unstyled d-flex flex-wrap gap-1 mb-2" data-picker-chosen '
            'data-remove-label="{remove}">{chips}</ul>'
            "{more}"
            '<div class="position-relative"><input{search}>'
            '<div class="list-group position-absolute w-100 shadow-sm picker-results" '
            'id="{id}_results" role="listbox" data-picker-results></div></div>'
            "</div>",
            kind=self.kind,
            remove=_("Remove"),
            url=reverse("mailing:audience_search"),
            name=name,
            id=base_id,
            value=",".join(ids),
            chips=chips,
            more=more_text,
            search=flatatt(search_attrs),
        )


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


def _variables_help() -> str:
    from .content.templating import VARIABLES

    listed = "; ".join(f"{{{{ {name} }}}}: {meaning}" for name, meaning in VARIABLES.items())
    return str(
        _(
            "Written in Markdown (raw HTML is cleaned). Variables: %(variables)s. "
            'A default for an empty value: {{ first_name|default:"friend" }}.'
        )
        % {"variables": listed}
    )


class MessageForm(forms.Form):
    subject = forms.CharField(
        label=_("Subject"),
        max_length=255,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=_("May use the variables listed under the body, such as {{ first_name }}."),
    )
    body = forms.CharField(
        label=_("Body"),
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=lazy(_variables_help, str)(),
    )
    format = forms.ChoiceField(
        label=_("Format"),
        choices=Message.Format.choices,
        initial=Message.Format.MARKDOWN,
        help_text=_("A plain-text message is sent exactly as written, without variables."),
        required=False,
    )

    def clean_format(self) -> str:
        # Left out (an older form, a script): new messages are Markdown.
        return self.cleaned_data.get("format") or Message.Format.MARKDOWN


class MailingForm(forms.Form):
    name = forms.CharField(
        label=pgettext_lazy("mailing", "Name"),
        max_length=200,
        required=False,
        help_text=_(
            "What you call this mailing in lists and reports. Empty: the message's subject."
        ),
    )
    message = IdChoiceField(label=_("Message"), queryset=Message.objects.none())
    all_recipients = forms.BooleanField(
        required=False,
        label=_("Send to all my recipients"),
        help_text=_("Every recipient you have now; the recipients below are then ignored."),
    )
    lists = IdMultipleChoiceField(
        label=_("Lists"),
        queryset=RecipientList.objects.none(),
        required=False,
        widget=PickerInput(kind="list"),
        help_text=_(
            "Their confirmed members when each send starts, including people who join later."
        ),
    )
    recipients = IdMultipleChoiceField(
        label=_("Recipients"),
        queryset=Recipient.objects.none(),
        required=False,
        widget=PickerInput(kind="recipient"),
        help_text=_("Type part of an address or a name, then pick from the matches."),
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
    content = forms.ChoiceField(
        label=_("Content"),
        choices=Mailing.Content.choices,
        initial=Mailing.Content.MESSAGE,
        required=False,
        help_text=_(
            "New blog posts: each occurrence mails the posts published since the last one "
            "that sent any, after the message (its subject and introduction); an occurrence "
            "with no new post sends nothing."
        ),
    )

    def clean_content(self) -> str:
        return self.cleaned_data.get("content") or Mailing.Content.MESSAGE

    def __init__(self, *args: Any, owner: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the owner's rows are offered, and only they validate: a tampered id is refused.
        cast(forms.ModelChoiceField, self.fields["message"]).queryset = objects_for(owner, Message)
        cast(forms.ModelMultipleChoiceField, self.fields["recipients"]).queryset = objects_for(
            owner, Recipient
        )
        cast(forms.ModelMultipleChoiceField, self.fields["lists"]).queryset = objects_for(
            owner, RecipientList
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


class SignupForm(forms.Form):
    """A visitor joining a public list. `website` is a honeypot: people never see it (it is
    hidden from them and from screen readers), form-filling robots fill it in."""

    email = forms.EmailField(
        label=_("Your email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    full_name = forms.CharField(
        label=_("Your name"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    website = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )
    source = forms.CharField(required=False, max_length=500, widget=forms.HiddenInput())


class RecipientListForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    is_public = forms.BooleanField(
        label=_("Public sign-up"),
        required=False,
        help_text=_(
            "Anyone may ask to join on the list's sign-up page; they join once they confirm "
            "by email."
        ),
    )


class MembersForm(forms.Form):
    """Recipients picked on a page (checkboxes of one field), or every one the search matches."""

    recipients = forms.ModelMultipleChoiceField(
        queryset=Recipient.objects.none(), required=False, widget=forms.MultipleHiddenInput
    )
    all_matching = forms.BooleanField(required=False)
    q = forms.CharField(required=False)

    def __init__(self, *args: Any, owner: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelMultipleChoiceField, self.fields["recipients"]).queryset = objects_for(
            owner, Recipient
        )


class AddToListForm(MembersForm):
    list = forms.ModelChoiceField(label=_("List"), queryset=RecipientList.objects.none())

    def __init__(self, *args: Any, owner: User, **kwargs: Any) -> None:
        super().__init__(*args, owner=owner, **kwargs)
        cast(forms.ModelChoiceField, self.fields["list"]).queryset = objects_for(
            owner, RecipientList
        )


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        help_text=_(
            "UTF-8, comma- or semicolon-separated, with a header row: “email” and, if you "
            "like, “full_name” and “comment” (or “почта”, “имя”, “комментарий”)."
        ),
    )
    list = forms.ModelChoiceField(
        label=_("Add them to a list"),
        queryset=RecipientList.objects.none(),
        required=False,
        empty_label=_("No list"),
    )

    def __init__(self, *args: Any, owner: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["list"]).queryset = objects_for(
            owner, RecipientList
        )
