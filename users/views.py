import tempfile
from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import BaseForm
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.views import View
from django.views.generic import FormView, TemplateView, UpdateView

from core.refusals import ActionRefused
from core.roles import ensure_can_manage, is_manager
from core.views import DashboardMixin, ListPageMixin, refuse, show_errors

from . import personal_data, selectors, services
from .forms import AccountDeleteForm, ProfileForm
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


class PersonalDataView(DashboardMixin, View):
    """POST: the ZIP of everything held about the signed-in person. Written to a temporary
    file (memory stays flat in the number of rows) and streamed back from it; the file goes
    when the answer is closed."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> FileResponse:
        archive = tempfile.TemporaryFile(prefix="personal-data-")  # noqa: SIM115  # the answer closes it
        try:
            personal_data.write_personal_data(user=self.user, file=archive)
        except BaseException:
            archive.close()
            raise
        archive.seek(0)
        name = f"my-data-{timezone.localdate():%Y-%m-%d}.zip"
        return FileResponse(
            archive, as_attachment=True, filename=name, content_type="application/zip"
        )


class AccountDeleteView(DashboardMixin, FormView):
    """ "Delete my account": what goes, and the password that confirms it."""

    form_class = AccountDeleteForm
    template_name = "users/account_delete.html"

    def form_valid(self, form: BaseForm) -> HttpResponse:
        try:
            services.account_delete(user=self.user, password=form.cleaned_data["password"])
        except ValidationError as error:
            show_errors(form, error)
            return self.form_invalid(form)
        except ActionRefused as refusal:
            refuse(self.request, refusal)
            return self.form_invalid(form)
        logout(self.request)
        messages.success(self.request, gettext("Your account and all its data are deleted."))
        return redirect("/")


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
        search = self.search()
        blocked = self.request.GET.get("blocked", "")
        return super().get_context_data(
            page_obj=selectors.user_page(search=search, blocked=blocked, number=self.page_number()),
            search=search,
            blocked=blocked,
            **kwargs,
        )


class BlockActionView(ManagerRequiredMixin, TemplateView):
    """Block or unblock one account: GET asks for confirmation and says what it will do, POST
    does it; the service refuses (403) what the rule does not allow."""

    http_method_names = ["get", "post"]
    template_name = "confirm_action.html"
    block = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        target = get_object_or_404(User, pk=self.kwargs["pk"])
        ensure_can_manage(self.user, "block" if self.block else "unblock", target)
        held = selectors.mailings_in_progress(user=target)
        names = {"email": target.email, "count": held}
        if self.block:
            title = gettext("Block %(email)s?") % names
            explanation = [
                gettext(
                    "%(email)s will still be able to sign in and read their campaigns, but not "
                    "create, change or send anything."
                )
                % names,
                ngettext(
                    "Their %(count)d mailing in progress is held as it is: nothing queued is "
                    "cancelled and nothing new starts.",
                    "Their %(count)d mailings in progress are held as they are: nothing queued "
                    "is cancelled and nothing new starts.",
                    held,
                )
                % names,
                gettext(
                    "Unblock gives everything back: queued messages go out, and a repeating "
                    "mailing continues with its next occurrence."
                ),
            ]
            button, button_class = gettext("Block"), "btn-danger"
        else:
            title = gettext("Unblock %(email)s?") % names
            explanation = [
                gettext("%(email)s will be able to create, change and send again.") % names,
                ngettext(
                    "Their %(count)d mailing held by the block goes on: queued messages are "
                    "sent, and a repeating one continues with its next occurrence (those that "
                    "fell due during the block are skipped).",
                    "Their %(count)d mailings held by the block go on: queued messages are "
                    "sent, and repeating ones continue with their next occurrence (those that "
                    "fell due during the block are skipped).",
                    held,
                )
                % names,
            ]
            button, button_class = gettext("Unblock"), "btn-success"
        return super().get_context_data(
            title=title,
            explanation=explanation,
            button=button,
            button_class=button_class,
            cancel_url=reverse("users:user_list"),
            **kwargs,
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        target = get_object_or_404(User, pk=pk)
        if self.block:
            services.user_block(actor=self.user, user=target)
            text = gettext("%(email)s is blocked; their mailings are held until unblocked.")
        else:
            services.user_unblock(actor=self.user, user=target)
            text = gettext("%(email)s is unblocked; their mailings go on.")
        messages.success(request, text % {"email": target.email})
        return redirect("users:user_list")
