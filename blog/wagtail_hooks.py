"""Where a reader's view of a post is counted: around Wagtail's serving of the page, after its
own checks (privacy, allowed methods), so that only a page actually served is counted."""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from wagtail import hooks

from . import services
from .models import BlogPage

ServePage = Callable[[Any, HttpRequest, tuple[Any, ...], dict[str, Any]], HttpResponse]


# Later than Wagtail's own on_serve_page hooks (order 0): they wrap this one, so a private post
# shown as a login or password form to this visitor is not counted.
@hooks.register("on_serve_page", order=100)
def count_blog_views(serve: ServePage) -> ServePage:
    def serve_counted(
        page: Any, request: HttpRequest, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponse:
        if isinstance(page, BlogPage):
            # Counted on every view, also when the body comes from the fragment cache.
            kwargs = {**kwargs, "view_count": services.record_view(page=page, request=request)}
        return serve(page, request, args, kwargs)

    return serve_counted
