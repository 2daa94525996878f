from datetime import date
from http import HTTPMethod
from typing import Any

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import models
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel
from wagtail.fields import RichTextField, StreamField
from wagtail.models import Page
from wagtail.search import index

from . import fragments
from .blocks import BlogStreamBlock

COVER_FILTER = "fill-960x540"
CARD_FILTER = "fill-640x360"


class BlogIndexPage(Page):
    """The blog: an introduction and its live posts, newest first, a page at a time."""

    intro = RichTextField(_("introduction"), blank=True)

    content_panels = Page.content_panels + [FieldPanel("intro")]
    parent_page_types = ["home.HomePage"]
    subpage_types = ["blog.BlogPage"]
    posts_per_page = 9

    class Meta:
        verbose_name = _("blog index page")

    def get_posts(self):
        return (
            BlogPage.objects.live()
            .public()
            .child_of(self)
            .select_related("cover_image")
            .prefetch_related("cover_image__renditions")
            .order_by("-date_published", "-pk")
        )

    def get_context(self, request: HttpRequest, *args, **kwargs) -> dict:
        context = super().get_context(request, *args, **kwargs)
        paginator = Paginator(self.get_posts(), self.posts_per_page)
        try:
            posts = paginator.page(request.GET.get("page", 1))
        except PageNotAnInteger:
            posts = paginator.page(1)
        except EmptyPage:
            posts = paginator.page(paginator.num_pages)
        context["posts"] = posts
        return context


class BlogPage(Page):
    """One article: cover image, introduction, a body of paragraphs, images and quotes, and a
    view counter that rises by one on every view (kept in BlogPageViewCount)."""

    # Annotated: Wagtail's Page is untyped, so django-stubs does not infer fields of its subclasses.
    date_published: "models.DateField[date, date]" = models.DateField(
        _("publication date"), default=timezone.localdate
    )
    intro: "models.CharField[str, str]" = models.CharField(
        _("introduction"), max_length=250, help_text=_("One or two sentences shown in lists.")
    )
    cover_image: "models.ForeignKey[Any, Any]" = models.ForeignKey(
        "wagtailimages.Image",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("cover image"),
    )
    body = StreamField(BlogStreamBlock(), blank=True, verbose_name=_("body"))

    content_panels = Page.content_panels + [
        FieldPanel("date_published"),
        FieldPanel("intro"),
        FieldPanel("cover_image"),
        FieldPanel("body"),
    ]
    search_fields = Page.search_fields + [
        index.SearchField("intro"),
        index.SearchField("body"),
        index.FilterField("date_published"),
    ]
    parent_page_types = ["blog.BlogIndexPage"]
    subpage_types: list[str] = []
    # An article is only read.
    allowed_http_methods = [HTTPMethod.GET, HTTPMethod.HEAD, HTTPMethod.OPTIONS]

    class Meta:
        verbose_name = _("blog page")
        verbose_name_plural = _("blog pages")
        indexes = [models.Index(fields=["-date_published"])]

    @property
    def view_count(self) -> int:
        """How many times the post was read (kept in BlogPageViewCount; 0 before the first)."""
        counter = BlogPageViewCount.objects.filter(page_id=self.pk)
        return counter.values_list("views", flat=True).first() or 0

    def get_context(
        self, request: HttpRequest, *args: Any, view_count: int | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """`view_count`: the count once this view is counted, which blog.wagtail_hooks passes
        in when a reader's request is served (a preview is not counted, and reads it)."""
        context = super().get_context(request, *args, **kwargs)
        # No ETag of our own, unlike the home page: the page shows the count, so each view is a
        # new page and a reader who reloads gets a 200 with the count risen
        # (ConditionalGetMiddleware's content ETag never matches, which is right).
        context["view_count"] = self.view_count if view_count is None else view_count
        context["images_key"] = fragments.images_key(page=self)
        return context


class BlogPageViewCount(models.Model):
    """How many times a post was read.

    A row of its own rather than a field of the page: saving a page (an edit, a publish, a
    move, a revert) writes every field of a copy loaded earlier, and would put an old count back.
    Only blog.services.record_view writes here; a copied post starts without a row (no views).
    """

    page = models.OneToOneField(
        BlogPage, on_delete=models.CASCADE, primary_key=True, related_name="view_counter"
    )
    views = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.views} views of page {self.page_id}"
