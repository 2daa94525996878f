"""Dashboard views of campaign data: glue between requests, selectors and services.

A view looks the object up through the permission rule (someone else's answers 404), parses
the input with a form and hands the write to one service, which decides what the user may do
(403) and what the rules refuse (a ValidationError shown next to the field, or a refusal shown
as a flash message). A GET writes nothing, so a page that offers a write asks the rule itself
whether to offer it.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model
from django.forms import BaseForm
from django.forms.models import model_to_dict
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import FormView, TemplateView

from core.refusals import ActionRefused
from core.roles import (
    can_manage,
    can_write,
    ensure_can_manage,
    ensure_can_write,
    get_object_for,
    is_manager,
    objects_for,
)
from core.views import (
    DashboardMixin,
    ListPageMixin,
    OwnedObjectMixin,
    query_id,
    refuse,
    show_errors,
)

from . import selectors, services
from .forms import AttemptFilterForm, MailingForm, MessageForm, RecipientForm, ScheduleForm
from .models import DailyStat, Mailing, Message, Recipient, RecipientList, Run
from .previews import message_preview

# --- Form and delete pages of one model ----------------------------------------------------------


class OwnedPageMixin(OwnedObjectMixin, DashboardMixin):
    """A page about one object of `model`: its name, and where Cancel leads."""

    list_url: str

    def page_context(self, obj: Model | None) -> dict[str, Any]:
        return {
            "object": obj,
            "model_name": self.model._meta.verbose_name,
            "model_kind": self.model._meta.model_name,
            "cancel_url": reverse(self.list_url),
        }

    def offered(self, obj: Model | None) -> None:
        """A GET writes nothing: the rule decides here whether the page offers the write
        (403 for a manager or a blocked account). The POST is decided by the service."""
        ensure_can_write(self.request.user, obj)


class OwnedFormView(OwnedPageMixin, FormView):
    """The form of a new object (no pk in the URL) or of one of the user's to edit. A valid
    form goes to `save`, one service call; what the service refuses comes back on the form."""

    template_name = "mailing/form.html"
    success_message: str | Promise = ""
    object: Any = None

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = self.get_object_or_none()
        self.offered(self.object)
        return super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = self.get_object_or_none()
        return super().post(request, *args, **kwargs)

    def get_object_or_none(self) -> Any:
        return self.get_object() if "pk" in self.kwargs else None

    def get_initial(self) -> dict[str, Any]:
        if self.object is None:
            return super().get_initial()
        return model_to_dict(self.object, fields=list(self.get_form_class().base_fields))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(**self.page_context(self.object), **kwargs)

    def save(self, data: dict[str, Any]) -> Model:
        raise NotImplementedError

    def form_valid(self, form: BaseForm) -> HttpResponse:
        try:
            self.object = self.save(form.cleaned_data)
        except ValidationError as error:
            show_errors(form, error)
            return self.form_invalid(form)
        except ActionRefused as refusal:
            refuse(self.request, refusal)
            return self.form_invalid(form)
        messages.success(self.request, str(self.success_message))
        return redirect(self.get_success_url())


class OwnedDeleteView(OwnedPageMixin, TemplateView):
    """ "Delete …?" and its confirmation, which goes to `perform_delete`, one service call."""

    template_name = "mailing/confirm_delete.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        obj = self.get_object()
        self.offered(obj)
        return self.render_to_response(
            self.get_context_data(**self.page_context(obj), **self.consequences(obj))
        )

    def consequences(self, obj: Any) -> dict[str, Any]:
        """What the page says beside "deleted for good" (and whether it can be)."""
        return {}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        obj = self.get_object()
        try:
            self.perform_delete(obj)
        except ActionRefused as refusal:
            refuse(request, refusal)
            return redirect(request.path)
        # One whole sentence per kind, so that each language can agree the verb with the noun.
        deleted = {
            "mailing": _("Mailing deleted."),
            "message": _("Message deleted."),
            "recipient": _("Recipient deleted."),
        }.get(self.model._meta.model_name or "")
        name = capfirst(self.model._meta.verbose_name)
        text = deleted or gettext("%(name)s deleted.") % {"name": name}
        messages.success(request, str(text))
        return redirect(self.list_url)

    def perform_delete(self, obj: Any) -> None:
        raise NotImplementedError


# --- Dashboard ---------------------------------------------------------------------------------


class DashboardView(DashboardMixin, TemplateView):
    template_name = "mailing/dashboard.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.user
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

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        search = self.search()
        return super().get_context_data(
            page_obj=selectors.recipient_page(
                user=self.user, search=search, number=self.page_number()
            ),
            search=search,
            # The lists the ticked recipients can be added to (at most a page of them).
            lists=list(RecipientList.objects.filter(owner=self.user).order_by("name")[:200]),
            **kwargs,
        )


class RecipientDetailView(OwnedObjectMixin, DashboardMixin, TemplateView):
    """One recipient and the history of every attempt to mail them, across mailings."""

    model = Recipient
    template_name = "mailing/recipient_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        recipient = self.get_object()
        query = self.request.GET.copy()
        query.pop("page", None)
        return super().get_context_data(
            object=recipient,
            can_write=can_write(self.request.user, recipient),
            page_obj=selectors.recipient_attempt_page(
                user=self.user, recipient=recipient, number=self.request.GET.get("page", "1")
            ),
            query=query.urlencode(),
            **kwargs,
        )


class RecipientFormView(OwnedFormView):
    model = Recipient
    form_class = RecipientForm
    list_url = "mailing:recipient_list"

    def get_success_url(self) -> str:
        return reverse(self.list_url)


class RecipientCreateView(RecipientFormView):
    success_message = _("Recipient added.")

    def save(self, data: dict[str, Any]) -> Recipient:
        return services.recipient_create(owner=self.user, **data)


class RecipientUpdateView(RecipientFormView):
    success_message = _("Recipient updated.")

    def save(self, data: dict[str, Any]) -> Recipient:
        return services.recipient_update(user=self.user, recipient=self.object, **data)


class RecipientDeleteView(OwnedDeleteView):
    model = Recipient
    list_url = "mailing:recipient_list"

    def perform_delete(self, obj: Recipient) -> None:
        services.recipient_delete(user=self.user, recipient=obj)


# --- Messages ------------------------------------------------------------------------------------


class MessageListView(ListPageMixin, TemplateView):
    template_name = "mailing/message_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        search = self.search()
        return super().get_context_data(
            page_obj=selectors.message_page(
                user=self.user, search=search, number=self.page_number()
            ),
            search=search,
            **kwargs,
        )


class MessageDetailView(OwnedObjectMixin, DashboardMixin, TemplateView):
    model = Message
    template_name = "mailing/message_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        message = self.get_object()
        return super().get_context_data(
            object=message,
            preview=message_preview(user=self.user, message=message),
            can_write=can_write(self.request.user, message),
            mailings=message.mailings.order_by("-created_at")[:20],
            **kwargs,
        )


class MessageFormView(OwnedFormView):
    model = Message
    form_class = MessageForm
    list_url = "mailing:message_list"

    def get_success_url(self) -> str:
        assert self.object is not None
        return reverse("mailing:message_detail", args=[self.object.pk])


class MessageCreateView(MessageFormView):
    success_message = _("Message saved.")

    def save(self, data: dict[str, Any]) -> Message:
        return services.message_create(owner=self.user, **data)


class MessageUpdateView(MessageFormView):
    success_message = _("Message updated.")

    def save(self, data: dict[str, Any]) -> Message:
        return services.message_update(user=self.user, message=self.object, **data)


class MessageDeleteView(OwnedDeleteView):
    model = Message
    list_url = "mailing:message_list"

    def consequences(self, obj: Message) -> dict[str, Any]:
        # Said on the page, before the button, not after it as a refusal.
        return {"used_by": selectors.mailings_using(message=obj)}

    def perform_delete(self, obj: Message) -> None:
        services.message_delete(user=self.user, message=obj)


# --- Mailings ------------------------------------------------------------------------------------


class MailingListView(ListPageMixin, TemplateView):
    template_name = "mailing/mailing_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        status = self.request.GET.get("status", "")
        owner_id = query_id(self.request.GET.get("owner", ""))
        return super().get_context_data(
            page_obj=selectors.mailing_page(
                user=self.user, status=status, owner_id=owner_id, number=self.page_number()
            ),
            status=status,
            owner_id=owner_id,
            statuses=Mailing.Status.choices,
            **kwargs,
        )


class MailingDetailView(ListPageMixin, TemplateView):
    template_name = "mailing/mailing_detail.html"

    def get_context_data(
        self, *, schedule_form: ScheduleForm | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        user = self.user
        mailing = selectors.mailing_detail(user=user, pk=self.kwargs["pk"])
        stats = objects_for(user, DailyStat).filter(mailing=mailing)
        return super().get_context_data(
            mailing=mailing,
            can_write=can_write(user, mailing),
            can_disable=can_manage(user, "disable") and not mailing.is_disabled,
            can_enable=can_manage(user, "disable") and mailing.is_disabled,
            audience=selectors.audience_size(owner_id=mailing.owner_id, mailing_id=mailing.pk),
            queued=selectors.queued_count(mailing=mailing),
            progress=selectors.latest_run_progress(mailing=mailing),
            cap_wait=selectors.daily_cap_wait(mailing=mailing),
            runs=selectors.recent_runs(mailing=mailing),
            attempts=selectors.attempt_totals(stats=stats),
            per_day=selectors.attempts_per_day(stats=stats, days=14),
            page_obj=selectors.attempt_page(
                user=user,
                filters=selectors.AttemptFilter(mailing=mailing),
                number=self.page_number(),
            ),
            schedule_form=schedule_form or ScheduleForm(),
            # A refused time comes back with the modal open and the error under the field.
            schedule_open=schedule_form is not None,
            **kwargs,
        )


class MailingFormView(OwnedFormView):
    model = Mailing
    form_class = MailingForm
    list_url = "mailing:mailing_list"
    template_name = "mailing/mailing_form.html"

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "owner": self.user}

    def get_success_url(self) -> str:
        assert self.object is not None
        return reverse("mailing:mailing_detail", args=[self.object.pk])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # What the user must create first: the page links there rather than offer empty lists.
        fields = context["form"].fields
        context["needs_message"] = not fields["message"].queryset.exists()
        context["needs_recipient"] = (
            not fields["recipients"].queryset.exists() and not fields["lists"].queryset.exists()
        )
        return context


class MailingCreateView(MailingFormView):
    """A new mailing. The first send is not filled in (Save would start sending at once), the
    page says what Save will do (`selectors.save_outcome`), it can be saved as a draft, and a
    save that would send at once asks first, with the number of recipients."""

    def get_initial(self) -> dict[str, Any]:
        now = timezone.localtime().replace(second=0, microsecond=0)
        return {"end_at": now + timedelta(days=30), "start": "start"}

    def audience(self, data: dict[str, Any]) -> int:
        chosen = data.get("recipients")
        return selectors.audience_size(
            owner_id=self.user.pk,
            recipient_ids=None
            if data.get("all_recipients") or chosen is None
            else [r.pk for r in chosen],
            list_ids=[group.pk for group in data.get("lists") or ()],
        )

    def outcome(self, data: dict[str, Any]) -> str:
        return selectors.save_outcome(
            count=self.audience(data),
            start=data.get("start", True),
            first_send_at=data.get("first_send_at"),
            periodicity=data.get("periodicity") or Mailing.Periodicity.ONCE,
            end_at=data.get("end_at"),
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = context["form"]
        data = form.cleaned_data if form.is_bound and not form.errors else {}
        if not form.is_bound:
            data = {"start": True, "recipients": []}
        context["outcome"] = self.outcome(data) if data else ""
        context["audience"] = self.audience(data) if data else 0
        return context

    def form_valid(self, form: BaseForm) -> HttpResponse:
        data, now = form.cleaned_data, timezone.now()
        sends_now = data["start"] and data["first_send_at"] <= now
        # What the service would refuse anyway is refused first, next to its field.
        acceptable = data["end_at"] > max(now, data["first_send_at"]) and (
            data["all_recipients"] or data["recipients"] or data.get("lists")
        )
        # Confirmed for this many recipients: a change of recipients since asks again.
        confirmed = self.request.POST.get("confirm_send") == str(self.audience(data))
        if sends_now and acceptable and not confirmed:
            # Ask first: the same form, what Save will do, and a button that says it.
            return self.render_to_response(self.get_context_data(form=form, confirm_send=True))
        return super().form_valid(form)

    def save(self, data: dict[str, Any]) -> Mailing:
        mailing = services.mailing_create(owner=self.user, **data)
        self.success_message = (
            _("Mailing saved as a draft: nothing is sent until you schedule it or press Send now.")
            if not data["start"]
            else _("Mailing saved. It starts by itself at its first send time.")
        )
        return mailing


class MailingUpdateView(MailingFormView):
    success_message = _("Mailing updated.")

    def get_form(self, form_class: Any = None) -> BaseForm:
        form = super().get_form(form_class)
        form.fields.pop("start", None)  # a new mailing's choice only
        return form

    def save(self, data: dict[str, Any]) -> Mailing:
        return services.mailing_update(user=self.user, mailing=self.object, **data)


class MailingDeleteView(OwnedDeleteView):
    model = Mailing
    list_url = "mailing:mailing_list"

    def perform_delete(self, obj: Mailing) -> None:
        services.mailing_delete(user=self.user, mailing=obj)


def _back_to(request: HttpRequest, mailing: Mailing) -> HttpResponse:
    """After an action: back to the mailing, or to the list it was taken from."""
    if request.POST.get("next") == "list":
        return redirect("mailing:mailing_list")
    return redirect("mailing:mailing_detail", mailing.pk)


def _queued_cancelled(count: int) -> str:
    return ngettext(
        "%(count)d queued message cancelled", "%(count)d queued messages cancelled", count
    ) % {"count": count}


class MailingActionView(OwnedObjectMixin, DashboardMixin, View):
    """POST-only actions on one mailing; each redirects back with what it did, or why not."""

    model = Mailing
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        mailing = self.get_object()
        try:
            text = self.act(mailing)
        except ActionRefused as refusal:
            refuse(request, refusal)
        else:
            messages.success(request, text)
        return _back_to(request, mailing)

    def act(self, mailing: Mailing) -> str:
        raise NotImplementedError


class MailingSendNowView(MailingActionView):
    def act(self, mailing: Mailing) -> str:
        run: Run = services.mailing_send_now(user=self.user, mailing=mailing)
        count = run.deliveries.count()
        return ngettext(
            "Sending to %(count)d recipient has started.",
            "Sending to %(count)d recipients has started.",
            count,
        ) % {"count": count}


class MailingStopView(MailingActionView):
    def act(self, mailing: Mailing) -> str:
        cancelled = services.mailing_stop(user=self.user, mailing=mailing)
        return gettext("Mailing stopped; %(cancelled)s.") % {
            "cancelled": _queued_cancelled(cancelled)
        }


class MailingPauseView(MailingActionView):
    def act(self, mailing: Mailing) -> str:
        services.mailing_pause(user=self.user, mailing=mailing)
        return gettext("Mailing paused: what is queued waits, and nothing new starts.")


class MailingResumeView(MailingActionView):
    def act(self, mailing: Mailing) -> str:
        skipped = services.mailing_resume(user=self.user, mailing=mailing)
        text = gettext("Mailing resumed.")
        if skipped:
            text += " " + ngettext(
                "%(count)d occurrence that fell due during the pause was skipped.",
                "%(count)d occurrences that fell due during the pause were skipped.",
                skipped,
            ) % {"count": skipped}
        return text


class ConfirmedMailingActionView(MailingActionView):
    """A manager's action on a mailing: GET asks for confirmation and says what it will do."""

    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        mailing = self.get_object()
        ensure_can_manage(self.user, "disable")
        context = {
            "cancel_url": reverse("mailing:mailing_detail", args=[mailing.pk]),
            **self.confirmation(selectors.mailing_detail(user=self.user, pk=mailing.pk)),
        }
        return TemplateResponse(request, "confirm_action.html", context)

    def confirmation(self, mailing: Mailing) -> dict[str, Any]:
        raise NotImplementedError


class MailingDisableView(ConfirmedMailingActionView):
    def confirmation(self, mailing: Mailing) -> dict[str, Any]:
        queued = selectors.queued_count(mailing=mailing)
        names = {"pk": mailing.pk, "count": queued}
        return {
            "title": gettext("Disable mailing #%(pk)s?") % names,
            "explanation": [
                ngettext(
                    "%(count)d queued message is cancelled (recorded as not sent) and "
                    "nothing of this mailing starts until a manager enables it again.",
                    "%(count)d queued messages are cancelled (recorded as not sent) and "
                    "nothing of this mailing starts until a manager enables it again.",
                    queued,
                )
                % names,
                gettext("Its schedule is kept: Enable lets it go on with its next occurrence."),
            ],
            "button": gettext("Disable"),
            "button_class": "btn-dark",
        }

    def act(self, mailing: Mailing) -> str:
        cancelled = services.mailing_disable(manager=self.user, mailing=mailing)
        return gettext("Mailing #%(pk)s disabled; %(cancelled)s.") % {
            "pk": mailing.pk,
            "cancelled": _queued_cancelled(cancelled),
        }


class MailingEnableView(ConfirmedMailingActionView):
    def confirmation(self, mailing: Mailing) -> dict[str, Any]:
        return {
            "title": gettext("Enable mailing #%(pk)s?") % {"pk": mailing.pk},
            "explanation": [
                gettext(
                    "It goes on with its next occurrence; occurrences that fell due while it "
                    "was disabled are skipped, and messages cancelled by the disable stay "
                    "cancelled."
                ),
            ],
            "button": gettext("Enable"),
            "button_class": "btn-success",
        }

    def act(self, mailing: Mailing) -> str:
        services.mailing_enable(manager=self.user, mailing=mailing)
        return gettext("Mailing #%(pk)s enabled.") % {"pk": mailing.pk}


class MailingScheduleView(MailingDetailView):
    """The mailing page's schedule modal. A time the service takes goes back to the page
    with a flash message; a refused one re-renders the page (400) with the modal open and the
    error under the field."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        mailing = get_object_for(self.request.user, Mailing, pk=pk)
        form = ScheduleForm(request.POST)
        if form.is_valid():
            send_at = form.cleaned_data["send_at"]
            try:
                services.mailing_schedule(user=self.user, mailing=mailing, send_at=send_at)
            except ValidationError as error:
                show_errors(form, error)
            except ActionRefused as refusal:
                refuse(request, refusal)
                return _back_to(request, mailing)
            else:
                when = f"{timezone.localtime(send_at):%Y-%m-%d %H:%M}"
                messages.success(request, gettext("Next send set to %(when)s.") % {"when": when})
                return _back_to(request, mailing)
        return self.render_to_response(self.get_context_data(schedule_form=form), status=400)


class MailingProgressView(OwnedObjectMixin, DashboardMixin, View):
    """JSON for the live progress bar on the mailing page."""

    model = Mailing

    def get(self, request: HttpRequest, pk: int) -> JsonResponse:
        mailing = self.get_object()
        data = selectors.latest_run_progress(mailing=mailing).as_dict()
        data["status"] = mailing.get_status_display()
        return JsonResponse(data)


class DuplicateView(OwnedObjectMixin, DashboardMixin, View):
    """POST-only: copy one message or mailing and open the copy, saying what was made."""

    http_method_names = ["post"]
    detail_url: str

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        original = self.get_object()
        try:
            copy = self.duplicate(original)
        except ActionRefused as refusal:
            refuse(request, refusal)
            return redirect(self.detail_url, original.pk)
        messages.success(request, str(self.done_message))
        return redirect(self.detail_url, copy.pk)

    def duplicate(self, obj: Any) -> Model:
        raise NotImplementedError

    done_message: str | Promise = ""


class MessageDuplicateView(DuplicateView):
    model = Message
    detail_url = "mailing:message_detail"
    done_message = _("Message copied. This is the copy: edit it as you like.")

    def duplicate(self, obj: Message) -> Message:
        return services.message_duplicate(user=self.user, message=obj)


class MailingDuplicateView(DuplicateView):
    model = Mailing
    detail_url = "mailing:mailing_detail"
    done_message = _("Mailing copied. The copy sends nothing until you schedule it or send it now.")

    def duplicate(self, obj: Mailing) -> Mailing:
        return services.mailing_duplicate(user=self.user, mailing=obj)


# --- Operations ----------------------------------------------------------------------------------


class SchedulerHealthView(DashboardMixin, TemplateView):
    """For managers: whether the scheduler runs, and how the queue stands."""

    template_name = "mailing/scheduler_health.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_manager(self.user):
            raise PermissionDenied(gettext("Only managers can see the scheduler's health."))
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            health=selectors.scheduler_health(),
            tick_seconds=settings.MAILING_TICK_SECONDS,
            **kwargs,
        )


# --- Attempts ------------------------------------------------------------------------------------


class AttemptListView(ListPageMixin, TemplateView):
    template_name = "mailing/attempt_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.user
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
