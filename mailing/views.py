"""Dashboard views: glue between requests, the permission rule, selectors and services."""

from collections.abc import Callable
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import CreateView, DeleteView, DetailView, TemplateView, UpdateView

from users.roles import is_manager

from . import selectors, services
from .forms import AttemptFilterForm, MailingForm, MessageForm, RecipientForm, ScheduleForm
from .middleware import log_refusal
from .models import DailyStat, Mailing, Message, Recipient
from .permissions import (
    can_manage,
    can_write,
    ensure_can_manage,
    ensure_can_write,
    get_object_for,
    objects_for,
)


class DashboardMixin(LoginRequiredMixin):
    """Signed-in users only. (Every answer under /dashboard/ is marked private by
    `mailing.middleware.DashboardMiddleware`, error pages included.)"""


def refuse(request: HttpRequest, refusal: services.ActionRefused, *, flash: bool = True) -> None:
    """A service refused the action: log it once and, unless the form shows why, say why."""
    log_refusal(request, reason=str(refusal))
    if flash:
        messages.error(request, str(refusal))


class OwnedObjectMixin:
    """Looks the object up through the permission rule: someone else's answers 404."""

    model = None

    def get_object(self, queryset=None):
        return get_object_for(self.request.user, self.model, pk=self.kwargs["pk"])


class WritableObjectMixin(OwnedObjectMixin):
    """The object must be the user's to change; a manager or a blocked owner gets 403."""

    def get_object(self, queryset=None):
        obj = super().get_object(queryset)
        ensure_can_write(self.request.user, obj)
        return obj


class OwnedPageMixin(DashboardMixin):
    """Form and delete pages of one model: its name, and where Cancel leads."""

    model = None
    list_url = ""

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        context["model_name"] = self.model._meta.verbose_name
        context["cancel_url"] = reverse(self.list_url)
        return context


class OwnedFormMixin(OwnedPageMixin):
    """Create/update glue: the form gets the owner, the service does the write."""

    template_name = "mailing/form.html"
    success_message = "Saved."

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated and "pk" not in kwargs:
            ensure_can_write(request.user)  # creating
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict:
        kwargs = super().get_form_kwargs()
        kwargs["owner"] = self.request.user
        return kwargs

    def perform_save(self, form):
        return services.save_owned(user=self.request.user, form=form)

    def form_valid(self, form) -> HttpResponse:
        try:
            self.object = self.perform_save(form)
        except services.ActionRefused as refusal:
            # A refusal the service put on a field (an address saved meanwhile) shows there.
            refuse(self.request, refusal, flash=not form.errors)
            return self.form_invalid(form)
        messages.success(self.request, self.success_message)
        return redirect(self.get_success_url())


class OwnedDeleteMixin(OwnedPageMixin, WritableObjectMixin):
    template_name = "mailing/confirm_delete.html"

    def perform_delete(self, obj) -> None:
        raise NotImplementedError

    def form_valid(self, form) -> HttpResponse:
        # DeleteView.post has looked the object up (and checked the rule) into self.object.
        try:
            self.perform_delete(self.object)
        except services.ActionRefused as refusal:
            refuse(self.request, refusal)
            return redirect(self.request.path)
        messages.success(self.request, f"{self.model._meta.verbose_name.capitalize()} deleted.")
        return redirect(self.list_url)


class ListPageMixin(DashboardMixin):
    """A paginated list: the page number, the query string to keep across pages, and
    whether the user may create (which decides the "New …" buttons and empty-state actions)."""

    def page_number(self) -> str:
        return self.request.GET.get("page", "1")

    def get_context_data(self, **kwargs) -> dict:
        query = self.request.GET.copy()
        query.pop("page", None)
        return super().get_context_data(
            query=query.urlencode(), can_create=can_write(self.request.user), **kwargs
        )


# --- Dashboard ---------------------------------------------------------------------------------


class DashboardView(DashboardMixin, TemplateView):
    template_name = "mailing/dashboard.html"

    def get_context_data(self, **kwargs) -> dict:
        user = self.request.user
        return super().get_context_data(
            can_create=can_write(user),
            totals=selectors.totals_for(user=user),
            attempts=selectors.attempt_totals_for(user=user),
            per_day=selectors.attempts_per_day(stats=objects_for(user, DailyStat)),
            recent_mailings=selectors.mailing_page(user=user, number=1).object_list[:5],
            **kwargs,
        )


# --- Recipients ----------------------------------------------------------------------------------


class RecipientListView(ListPageMixin, TemplateView):
    template_name = "mailing/recipient_list.html"

    def get_context_data(self, **kwargs) -> dict:
        search = self.request.GET.get("q", "").strip()
        return super().get_context_data(
            page_obj=selectors.recipient_page(
                user=self.request.user, search=search, number=self.page_number()
            ),
            search=search,
            **kwargs,
        )


class RecipientFormMixin(OwnedFormMixin):
    model = Recipient
    form_class = RecipientForm
    list_url = "mailing:recipient_list"

    def get_success_url(self) -> str:
        return reverse(self.list_url)


class RecipientCreateView(RecipientFormMixin, CreateView):
    success_message = "Recipient added."


class RecipientUpdateView(RecipientFormMixin, WritableObjectMixin, UpdateView):
    success_message = "Recipient updated."


class RecipientDeleteView(OwnedDeleteMixin, DeleteView):
    model = Recipient
    list_url = "mailing:recipient_list"

    def perform_delete(self, obj) -> None:
        services.delete_recipient(user=self.request.user, recipient=obj)


# --- Messages ------------------------------------------------------------------------------------


class MessageListView(ListPageMixin, TemplateView):
    template_name = "mailing/message_list.html"

    def get_context_data(self, **kwargs) -> dict:
        search = self.request.GET.get("q", "").strip()
        return super().get_context_data(
            page_obj=selectors.message_page(
                user=self.request.user, search=search, number=self.page_number()
            ),
            search=search,
            **kwargs,
        )


class MessageDetailView(DashboardMixin, OwnedObjectMixin, DetailView):
    model = Message
    template_name = "mailing/message_detail.html"

    def get_context_data(self, **kwargs) -> dict:
        return super().get_context_data(
            can_write=can_write(self.request.user, self.object),
            mailings=self.object.mailings.order_by("-created_at")[:20],
            **kwargs,
        )


class MessageFormMixin(OwnedFormMixin):
    model = Message
    form_class = MessageForm
    list_url = "mailing:message_list"

    def get_success_url(self) -> str:
        return reverse("mailing:message_detail", args=[self.object.pk])


class MessageCreateView(MessageFormMixin, CreateView):
    success_message = "Message saved."


class MessageUpdateView(MessageFormMixin, WritableObjectMixin, UpdateView):
    success_message = "Message updated."


class MessageDeleteView(OwnedDeleteMixin, DeleteView):
    model = Message
    list_url = "mailing:message_list"

    def perform_delete(self, obj) -> None:
        services.delete_message(user=self.request.user, message=obj)


# --- Mailings ------------------------------------------------------------------------------------


class MailingListView(ListPageMixin, TemplateView):
    template_name = "mailing/mailing_list.html"

    def get_context_data(self, **kwargs) -> dict:
        status = self.request.GET.get("status", "")
        owner = self.request.GET.get("owner", "")
        owner_id = int(owner) if owner.isdigit() else None
        return super().get_context_data(
            page_obj=selectors.mailing_page(
                user=self.request.user, status=status, owner_id=owner_id, number=self.page_number()
            ),
            status=status,
            owner_id=owner_id,
            statuses=Mailing.Status.choices,
            **kwargs,
        )


class MailingDetailView(ListPageMixin, TemplateView):
    template_name = "mailing/mailing_detail.html"

    def get_context_data(self, *, schedule_form: ScheduleForm | None = None, **kwargs) -> dict:
        user = self.request.user
        mailing = selectors.mailing_detail(user=user, pk=self.kwargs["pk"])
        stats = objects_for(user, DailyStat).filter(mailing=mailing)
        return super().get_context_data(
            mailing=mailing,
            can_write=can_write(user, mailing),
            can_disable=can_manage(user, "disable") and not mailing.is_disabled,
            progress=selectors.latest_run_progress(mailing=mailing),
            runs=selectors.recent_runs(mailing=mailing),
            attempts=selectors.attempt_totals(stats=stats),
            per_day=selectors.attempts_per_day(stats=stats, days=14),
            page_obj=selectors.attempt_page(
                user=user,
                filters=selectors.AttemptFilter(mailing=mailing),
                number=self.page_number(),
            ),
            schedule_form=schedule_form or ScheduleForm(mailing=mailing),
            # A refused time comes back with the modal open and the error under the field.
            schedule_open=schedule_form is not None,
            **kwargs,
        )


class MailingFormMixin(OwnedFormMixin):
    model = Mailing
    form_class = MailingForm
    list_url = "mailing:mailing_list"
    template_name = "mailing/mailing_form.html"

    def perform_save(self, form):
        return services.save_mailing(user=self.request.user, form=form)

    def get_success_url(self) -> str:
        return reverse("mailing:mailing_detail", args=[self.object.pk])

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        # What the user must create first: the page links there rather than offer empty lists.
        fields = context["form"].fields
        context["needs_message"] = not fields["message"].queryset.exists()
        context["needs_recipient"] = not fields["recipients"].queryset.exists()
        return context


class MailingCreateView(MailingFormMixin, CreateView):
    success_message = "Mailing saved. It starts by itself at its first send time."

    def get_initial(self) -> dict:
        now = timezone.localtime().replace(second=0, microsecond=0)
        return {"first_send_at": now, "end_at": now + timedelta(days=30)}


class MailingUpdateView(MailingFormMixin, WritableObjectMixin, UpdateView):
    success_message = "Mailing updated."


class MailingDeleteView(OwnedDeleteMixin, DeleteView):
    model = Mailing
    list_url = "mailing:mailing_list"

    def perform_delete(self, obj) -> None:
        services.delete_mailing(user=self.request.user, mailing=obj)


def _act_and_redirect(
    request: HttpRequest, mailing: Mailing, act: Callable[[], str]
) -> HttpResponse:
    """Run a mailing action; back to the mailing (or the list) with what it did, or why not."""
    try:
        text = act()
    except services.ActionRefused as refusal:
        refuse(request, refusal)
    else:
        messages.success(request, text)
    if request.POST.get("next") == "list":
        return redirect("mailing:mailing_list")
    return redirect("mailing:mailing_detail", mailing.pk)


class MailingActionView(DashboardMixin, OwnedObjectMixin, View):
    """POST-only actions on one mailing; each redirects back with a flash message."""

    model = Mailing
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        mailing = self.get_object()
        return _act_and_redirect(request, mailing, lambda: self.act(request, mailing))

    def act(self, request: HttpRequest, mailing: Mailing) -> str:
        raise NotImplementedError


def _queued_cancelled(count: int) -> str:
    return f"{count} queued message{pluralize(count)} cancelled"


class MailingSendNowView(MailingActionView):
    def act(self, request: HttpRequest, mailing: Mailing) -> str:
        run = services.send_now(user=request.user, mailing=mailing)
        count = run.deliveries.count()
        return f"Sending to {count} recipient{pluralize(count)} has started."


class MailingStopView(MailingActionView):
    def act(self, request: HttpRequest, mailing: Mailing) -> str:
        cancelled = services.stop_mailing(user=request.user, mailing=mailing)
        return f"Mailing stopped; {_queued_cancelled(cancelled)}."


class MailingScheduleView(MailingDetailView):
    """The mailing page's schedule modal. A valid time goes to the service and back to the
    page with a flash message; a refused one re-renders the page (400) with the modal open
    and the error under the field."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        mailing = get_object_for(request.user, Mailing, pk=pk)
        ensure_can_write(request.user, mailing)
        form = ScheduleForm(request.POST, mailing=mailing)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(schedule_form=form), status=400)
        send_at = form.cleaned_data["send_at"]

        def schedule() -> str:
            services.schedule_mailing(user=request.user, mailing=mailing, send_at=send_at)
            return f"Next send set to {timezone.localtime(send_at):%Y-%m-%d %H:%M}."

        return _act_and_redirect(request, mailing, schedule)


class MailingDisableView(MailingActionView):
    def act(self, request: HttpRequest, mailing: Mailing) -> str:
        ensure_can_manage(request.user, "disable")
        cancelled = services.disable_mailing(manager=request.user, mailing=mailing)
        return f"Mailing #{mailing.pk} disabled; {_queued_cancelled(cancelled)}."


class MailingProgressView(DashboardMixin, OwnedObjectMixin, View):
    """JSON for the live progress bar on the mailing page."""

    model = Mailing

    def get(self, request: HttpRequest, pk: int) -> JsonResponse:
        mailing = self.get_object()
        data = selectors.latest_run_progress(mailing=mailing).as_dict()
        data["status"] = mailing.get_status_display()
        return JsonResponse(data)


# --- Attempts ------------------------------------------------------------------------------------


class AttemptListView(ListPageMixin, TemplateView):
    template_name = "mailing/attempt_list.html"

    def get_context_data(self, **kwargs) -> dict:
        user = self.request.user
        mailings = objects_for(user, Mailing).select_related("message").order_by("-created_at")
        form = AttemptFilterForm(self.request.GET or None, mailings=mailings)
        filters = selectors.AttemptFilter()
        if form.is_bound and form.is_valid():
            filters = selectors.AttemptFilter(**form.cleaned_data)
        return super().get_context_data(
            form=form,
            filtered=filters != selectors.AttemptFilter(),
            page_obj=selectors.attempt_page(user=user, filters=filters, number=self.page_number()),
            show_owner=is_manager(user),
            **kwargs,
        )
