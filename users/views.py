from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext
from django.views import View
from django.views.generic import TemplateView, UpdateView

from core.roles import is_manager
from core.views import DashboardMixin, ListPageMixin, show_errors

from . import selectors, services
from .forms import ProfileForm
from .models import User


class ProfileView(DashboardMixin, UpdateView):
    """The signed-in user's own profile: view and edit on one page."""

    form_class = ProfileForm
    template_name = "users/profile.html"

    def get_object(self, queryset: object = None) -> User:
        # The form gets its own copy: validating a refused upload writes it onto the instance,
        # and the page (navbar and profile card) must keep showing what is actually saved.
        return User.objects.get(pk=self.user.pk)

    def form_valid(self, form: BaseForm) -> HttpResponse:
        changes: dict[str, Any] = {name: form.cleaned_data[name] for name in form.changed_data}
        if changes.get("avatar") is False:  # the form's "remove the picture"
            changes["avatar"] = None
        try:
            services.user_profile_update(user=self.object, **changes)
        except ValidationError as error:
            show_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, gettext("Your profile has been saved."))
        return redirect("profile")


class ManagerRequiredMixin(DashboardMixin):
    """Accounts are the managers' to see: anyone else gets 403 for the list and for any
    account's address, whether it exists or not. What a manager may do to an account is the
    services' to decide."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated and not is_manager(request.user):
            raise PermissionDenied(gettext("Only managers can see the user list."))
        return super().dispatch(request, *args, **kwargs)


class UserListView(ManagerRequiredMixin, ListPageMixin, TemplateView):
    template_name = "users/user_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        search = self.request.GET.get("q", "").strip()
        blocked = self.request.GET.get("blocked", "")
        return super().get_context_data(
            page_obj=selectors.user_page(search=search, blocked=blocked, number=self.page_number()),
            search=search,
            blocked=blocked,
            **kwargs,
        )


class BlockActionView(ManagerRequiredMixin, View):
    """Block or unblock one account; the service refuses (403) what the rule does not allow."""

    http_method_names = ["post"]
    block = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        target = get_object_or_404(User, pk=pk)
        if self.block:
            services.user_block(actor=self.user, user=target)
            text = gettext("%(email)s is blocked; their mailings stopped.")
        else:
            services.user_unblock(actor=self.user, user=target)
            text = gettext("%(email)s is unblocked.")
        messages.success(request, text % {"email": target.email})
        return redirect("users:user_list")
