"""Where a reader's view of a post is counted: around Wagtail's serving of the page, after its
own checks (privacy, allowed methods), so that only a page actually served is counted; and
"Mail this post" in the page editor's action menu."""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.action_menu import ActionMenuItem

from core.roles import can_write

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


class MailPostMenuItem(ActionMenuItem):
    """ "Mail this post" for an editor who also has a dashboard account (`can_write`): it opens
    the dashboard's confirmation, which makes the post a message of theirs
    (`mailing.services.posts` decides which post they may use)."""

    label = _("Mail this post")
    name = "action-mail-post"
    icon_name = "mail"

    def is_shown(self, context: dict[str, Any]) -> bool:
        page = context.get("page")
        return (
            context["view"] == "edit"
            and isinstance(page, BlogPage)
            and can_write(context["request"].user)
        )

    def get_url(self, parent_context: dict[str, Any]) -> str:
        return reverse("mailing:message_from_post", args=[parent_context["page"].pk])


@hooks.register("register_page_action_menu_item")
def register_mail_post_menu_item() -> ActionMenuItem:
    return MailPostMenuItem(order=200)
