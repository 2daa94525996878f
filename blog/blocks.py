from wagtail import blocks
from wagtail.images.blocks import ImageChooserBlock


class CaptionedImageBlock(blocks.StructBlock):
    image = ImageChooserBlock()
    caption = blocks.CharBlock(required=False, max_length=250)

    class Meta:
        icon = "image"
        template = "blog/blocks/image.html"


class QuoteBlock(blocks.StructBlock):
    text = blocks.TextBlock()
    attribution = blocks.CharBlock(required=False, max_length=200)

    class Meta:
        icon = "openquote"
        template = "blog/blocks/quote.html"


class BlogStreamBlock(blocks.StreamBlock):
    """What a blog post's body is made of: paragraphs, images and quotes."""

    paragraph = blocks.RichTextBlock(
        features=["h2", "h3", "bold", "italic", "link", "ol", "ul", "hr"],
        template="blog/blocks/paragraph.html",
    )
    image = CaptionedImageBlock()
    quote = QuoteBlock()
