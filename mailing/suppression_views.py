"""Dashboard pages of suppressed addresses: the list (why, since when) and lifting a bounce."""

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext
from django.views.generic import TemplateView

from core.refusals import ActionRefused
from core.roles import can_write, get_object_for
from core.views import DashboardMixin, ListPageMixin, refuse

from . import selectors, services
from .models import Suppression


class SuppressionListView(ListPageMixin, TemplateView):
    template_name = "mailing/suppression_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            page_obj=selectors.suppression_page(user=self.user, number=self.page_number()),
            **kwargs,
        )


class SuppressionLiftView(DashboardMixin, TemplateView):
    """GET: confirm; POST: mail the bounced address again."""

    template_name = "mailing/suppression_lift.html"

    def get_object(self) -> Suppression:
        return get_object_for(self.user, Suppression, pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        suppression = self.get_object()
        return super().get_context_data(
            suppression=suppression,
            can_lift=can_write(self.user, suppression)
            and suppression.reason == Suppression.Reason.BOUNCED,
            **kwargs,
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        suppression = self.get_object()
        try:
            services.suppression_lift(user=self.user, suppression=suppression)
        except ActionRefused as refusal:
            refuse(request, refusal)
        else:
            messages.success(
                request,
                gettext("%(email)s will receive your mailings again.")
                % {"email": suppression.email},
            )
        return redirect("mailing:suppression_list")
