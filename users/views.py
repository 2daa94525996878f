from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import TemplateView, UpdateView

from mailing.views import DashboardMixin, ListPageMixin
from users.roles import is_manager

from . import selectors, services
from .forms import ProfileForm
from .models import User


class ProfileView(DashboardMixin, UpdateView):
    """The signed-in user's own profile: view and edit on one page."""

    form_class = ProfileForm
    template_name = "users/profile.html"

    def get_object(self, queryset=None) -> User:
        # The form gets its own copy: validating a refused upload writes it onto the instance,
        # and the page (navbar and profile card) must keep showing what is actually saved.
        return User.objects.get(pk=self.request.user.pk)

    def form_valid(self, form) -> HttpResponse:
        services.update_profile(form=form)
        messages.success(self.request, "Your profile has been saved.")
        return redirect("profile")


class ManagerRequiredMixin(DashboardMixin):
    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated and not is_manager(request.user):
            raise PermissionDenied("Only managers can see the user list.")
        return super().dispatch(request, *args, **kwargs)


class UserListView(ManagerRequiredMixin, ListPageMixin, TemplateView):
    template_name = "users/user_list.html"

    def get_context_data(self, **kwargs) -> dict:
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
            services.block_user(actor=request.user, user=target)
            messages.success(request, f"{target.email} is blocked; their mailings stopped.")
        else:
            services.unblock_user(actor=request.user, user=target)
            messages.success(request, f"{target.email} is unblocked.")
        return redirect("users:user_list")
