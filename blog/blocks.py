from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from wagtail import blocks
from wagtail.blocks.struct_block import StructBlockValidationError
from wagtail.images.blocks import ImageChooserBlock


class CaptionedImageBlock(blocks.StructBlock):
    image = ImageChooserBlock(label=_("Image"))
    caption = blocks.CharBlock(label=_("Caption"), required=False, max_length=250)

    class Meta:
        icon = "image"
        label = _("Image")
        template = "blog/blocks/image.html"


class QuoteBlock(blocks.StructBlock):
    text = blocks.TextBlock(label=_("Quote"))
    attribution = blocks.CharBlock(label=_("Attribution"), required=False, max_length=200)

    class Meta:
        icon = "openquote"
        label = _("Quote")
        template = "blog/blocks/quote.html"


def _list_key(text: str) -> str:
    """The key alone, from the key or from the whole sign-up address pasted in."""
    return text.strip().rstrip("/").removesuffix("/sent").rsplit("/", 1)[-1]


class SignupFormBlock(blocks.StructBlock):
    """A public list's sign-up form, placed on any page; it posts to the list's sign-up page
    (double opt-in: the visitor joins once they confirm the mail it sends)."""

    list_key = blocks.CharBlock(
        label=_("Public list"),
        max_length=200,
        help_text=_(
            "The list's sign-up address (…/join/KEY/) or its key, as the list's owner sees "
            "it on their list page."
        ),
    )
    heading = blocks.CharBlock(label=_("Heading"), required=False, max_length=200)
    text = blocks.TextBlock(label=_("Text"), required=False)
    button_label = blocks.CharBlock(label=_("Button"), required=False, max_length=60)

    class Meta:
        icon = "mail"
        label = _("Sign-up form")
        template = "blog/blocks/signup_form.html"

    def clean(self, value: Any) -> Any:
        from mailing.models import RecipientList

        value = super().clean(value)
        key = _list_key(value["list_key"])
        if not RecipientList.objects.filter(public_key=key, is_public=True).exists():
            raise StructBlockValidationError(
                block_errors={"list_key": ValidationError(_("No public list has this address."))}
            )
        value["list_key"] = key
        return value

    def get_context(self, value: Any, parent_context: dict | None = None) -> dict:
        from mailing.models import RecipientList

        context = super().get_context(value, parent_context=parent_context)
        key = _list_key(value["list_key"])
        # A list made private (or deleted) since: the form is left out, not a broken one shown.
        context["signup_list"] = RecipientList.objects.filter(
            public_key=key, is_public=True
        ).first()
        request = (parent_context or {}).get("request")
        context["source"] = request.path if request is not None else ""
        return context


class BlogStreamBlock(blocks.StreamBlock):
    """What a blog post's body is made of: paragraphs, images and quotes."""

    paragraph = blocks.RichTextBlock(
        features=["h2", "h3", "bold", "italic", "link", "ol", "ul", "hr"],
        template="blog/blocks/paragraph.html",
        label=_("Paragraph"),
    )
    image = CaptionedImageBlock()
    quote = QuoteBlock()
    signup = SignupFormBlock()
