"""Dashboard views of the content pipeline: a message's HTML preview, "Send me a test", and
"Mail this post" (a blog post as a new message).

The preview's HTML is served on its own URL, for the message page's sandboxed frame, with a
policy of its own: `sandbox` (no script, no form, no same-origin access even if something got
past the sanitiser), no source but inline style (what css-inline wrote) and images.
"""

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.views import View
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.generic import TemplateView

from core.refusals import ActionRefused
from core.roles import ensure_can_write
from core.views import DashboardMixin, OwnedObjectMixin, refuse

from .models import Mailing, Message
from .previews import message_preview
from .services.posts import message_from_post, usable_post
from .services.trial_send import send_test
from .web import sandboxed_response

PREVIEW_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src http: https: data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)


@method_decorator(xframe_options_sameorigin, name="dispatch")
class MessagePreviewView(OwnedObjectMixin, DashboardMixin, View):
    model = Message
    http_method_names = ["get"]

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        message = self.get_object()
        preview = message_preview(user=self.user, message=message)
        return sandboxed_response(preview.html or "", policy=PREVIEW_POLICY)


class MessageTestSendView(OwnedObjectMixin, DashboardMixin, View):
    model = Message
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        message = self.get_object()
        _send(request, message=message)
        return redirect("mailing:message_detail", message.pk)


class MailingTestSendView(OwnedObjectMixin, DashboardMixin, View):
    model = Mailing
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        mailing = self.get_object()
        _send(request, message=mailing.message, mailing=mailing)
        return redirect("mailing:mailing_detail", mailing.pk)


def _send(request: HttpRequest, *, message: Message, mailing: Mailing | None = None) -> None:
    try:
        address = send_test(user=request.user, message=message, mailing=mailing)  # type: ignore[arg-type]
    except ActionRefused as refusal:
        refuse(request, refusal)
    else:
        messages.success(request, gettext("A test was sent to %(email)s.") % {"email": address})


class MessageFromPostView(DashboardMixin, TemplateView):
    """ "Mail this post": GET asks (the Wagtail editor's menu links here), POST makes the
    message and opens it for editing."""

    template_name = "mailing/message_from_post.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        ensure_can_write(self.user)
        post = usable_post(user=self.user, page_id=kwargs["page_id"])
        return self.render_to_response(self.get_context_data(post=post))

    def post(self, request: HttpRequest, page_id: int) -> HttpResponse:
        try:
            message = message_from_post(user=self.user, page_id=page_id)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("mailing:message_list")
        messages.success(
            request,
            gettext("The post is now a message: edit it, then choose its recipients in a mailing."),
        )
        return redirect("mailing:message_update", message.pk)
