from http import HTTPMethod

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import models
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from wagtail.admin.panels import FieldPanel
from wagtail.fields import RichTextField, StreamField
from wagtail.models import Page
from wagtail.search import index

from .blocks import BlogStreamBlock

COVER_FILTER = "fill-960x540"
CARD_FILTER = "fill-640x360"


class BlogIndexPage(Page):
    """The blog: an introduction and its live posts, newest first, a page at a time."""

    intro = RichTextField(blank=True)

    content_panels = Page.content_panels + [FieldPanel("intro")]
    parent_page_types = ["home.HomePage"]
    subpage_types = ["blog.BlogPage"]
    posts_per_page = 9

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
    view counter that rises by one on every view."""

    date_published = models.DateField("publication date", default=timezone.localdate)
    intro = models.CharField(max_length=250, help_text="One or two sentences shown in lists.")
    cover_image = models.ForeignKey(
        "wagtailimages.Image",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    body = StreamField(BlogStreamBlock(), blank=True)
    # Not a content field: kept out of forms and preserved across revisions (see below).
    view_count = models.PositiveBigIntegerField(default=0, editable=False)

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
    # A copy is a new article: its readers are still to come.
    exclude_fields_in_copy = ["view_count"]

    class Meta:
        indexes = [models.Index(fields=["-date_published"])]

    def with_content_json(self, content: dict) -> "BlogPage":
        # Publishing or reverting a revision must not roll the counter back to the value it
        # had when the revision was saved.
        page = super().with_content_json(content)
        page.view_count = self.view_count
        return page

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding and kwargs.get("update_fields") is None:
            # Only serve()'s atomic UPDATE writes the counter. A page saved by an edit, a
            # publish or a move was loaded earlier, and writing its copy back would drop the
            # views counted in between.
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "view_count"
            ]
        super().save(*args, **kwargs)

    def serve(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # A HEAD (link checkers, uptime probes) is not a reader.
        if request.method == "GET" and not getattr(request, "is_preview", False):
            # One atomic UPDATE per view: concurrent views never lose a count, and a view
            # answered from the browser's cache (304) or a cached fragment still counts.
            BlogPage.objects.filter(pk=self.pk).update(view_count=F("view_count") + 1)
            self.view_count += 1
        # No ETag of our own: the page shows its view count, so every view is a new page and
        # a reader who reloads sees the count rise (ConditionalGetMiddleware's content ETag
        # then never matches, which is right; the index and home page still answer 304).
        return super().serve(request, *args, **kwargs)
