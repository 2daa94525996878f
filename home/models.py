from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel
from wagtail.fields import RichTextField
from wagtail.models import Page

from blog.selectors import blog_index, random_posts
from mailing.selectors import site_totals

from . import page_cache


class HomePage(Page):
    """The front page: an editable introduction, the site's campaign totals and three random
    blog posts."""

    intro = RichTextField(_("introduction"), blank=True)

    content_panels = Page.content_panels + [FieldPanel("intro")]
    subpage_types = ["blog.BlogIndexPage"]
    max_count = 1

    class Meta:
        verbose_name = _("home page")

    def get_context(self, request: HttpRequest, *args, **kwargs) -> dict:
        context = super().get_context(request, *args, **kwargs)
        context["totals"] = site_totals()
        context["random_posts"] = random_posts(count=page_cache.CARDS_ON_HOME_PAGE)
        if not context["random_posts"]:
            # The empty state points visitors to the blog, when there is one.
            context["blog_index"] = blog_index(home=self)
        return context

    def serve(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Read before rendering: see page_cache.keep().
        versions = page_cache.Versions.current()
        response = super().serve(request, *args, **kwargs)
        if hasattr(response, "render"):
            response.render()
        page_cache.keep(request, response, versions)
        return response
