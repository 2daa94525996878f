from django.http import HttpRequest
from wagtail.admin.panels import FieldPanel
from wagtail.fields import RichTextField
from wagtail.models import Page

from blog.selectors import random_posts
from mailing.selectors import site_totals


class HomePage(Page):
    """The front page: an editable introduction, the site's campaign totals and three random
    blog posts."""

    intro = RichTextField(blank=True)

    content_panels = Page.content_panels + [FieldPanel("intro")]
    subpage_types = ["blog.BlogIndexPage"]
    max_count = 1

    def get_context(self, request: HttpRequest, *args, **kwargs) -> dict:
        context = super().get_context(request, *args, **kwargs)
        context["totals"] = site_totals()
        context["random_posts"] = random_posts(count=3)
        return context
