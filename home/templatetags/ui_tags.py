"""Template helpers shared by every template of the site (Bootstrap form widgets, cache keys)."""

from django import forms, template
from django.forms.boundfield import BoundField
from django.utils.safestring import SafeString

from blog.fragments import image_version as _image_version
from users.adapter import MAIL_FAILED_TAG

register = template.Library()


@register.filter
def mail_failed(messages) -> bool:
    """Whether this request's flash messages say an account mail could not be sent, so a page
    saying "we have sent you an email" can say otherwise."""
    return any(MAIL_FAILED_TAG in message.extra_tags.split() for message in messages or ())


@register.filter
def bootstrap(field: BoundField) -> SafeString:
    """Render a form field's widget with Bootstrap's class, marked invalid when it has errors.

    One filter serves the site's forms and allauth's alike, so no form class needs to know
    about CSS.
    """
    widget = field.field.widget
    if isinstance(widget, (forms.CheckboxInput, forms.RadioSelect, forms.CheckboxSelectMultiple)):
        css = "form-check-input"
    elif isinstance(widget, (forms.Select, forms.SelectMultiple)):
        css = "form-select"
    else:
        css = "form-control"
    if field.errors:
        css += " is-invalid"
    existing = widget.attrs.get("class", "")
    return field.as_widget(attrs={"class": f"{existing} {css}".strip()})


@register.filter
def image_version(image) -> str:
    """What identifies this image's file, for the key of a cached fragment that shows it (""
    for no image): see blog.fragments.image_version."""
    return _image_version(image)
