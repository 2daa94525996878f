"""Dashboard views of lists and the mailing form's audience picker: glue between requests,
the selectors of `mailing.audience` and the services of `mailing.services.lists`."""

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import TemplateView

from core.roles import can_write, ensure_can_write, get_object_for, objects_for
from core.views import DashboardMixin, ListPageMixin, OwnedObjectMixin, query_id, query_text

from . import audience, services
from .forms import AddToListForm, ImportForm, MailingForm, MembersForm, RecipientListForm
from .importing import ImportFileError
from .models import Recipient, RecipientList
from .services import imports
from .views import OwnedDeleteView, OwnedFormView

# --- The mailing form's picker -------------------------------------------------------------------


class AudienceSearchView(DashboardMixin, View):
    """JSON for the picker: at most 20 of the user's recipients (`kind=recipient`), lists
    (`kind=list`) or both matching `q`."""

    def get(self, request: HttpRequest) -> JsonResponse:
        query = query_text(request.GET.get("q", ""))
        kind = request.GET.get("kind", "")
        results: list[dict] = []
        if kind in ("", "list"):
            for item in audience.search_lists(user=self.user, query=query):
                members = ngettext("%(count)s member", "%(count)s members", item["members"]) % {
                    "count": f"{item['members']:,}"
                }
                results.append({**item, "kind": "list", "detail": members})
        if kind in ("", "recipient"):
            for item in audience.search_recipients(user=self.user, query=query):
                results.append({**item, "kind": "recipient", "detail": ""})
        return JsonResponse({"results": results[: audience.SEARCH_LIMIT]})


class AudienceSummaryView(DashboardMixin, View):
    """What the mailing form would do if saved now, as the form page states it: "Sends to
    1,234 recipients now" or "Starts on … (1,234 recipients as of now)". POSTed the form's
    fields (the chosen ids may be many); writes nothing."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        form = MailingForm(request.POST, owner=self.user)
        form.is_valid()  # what is valid of it is in cleaned_data
        data = form.cleaned_data
        count = audience.audience_count(
            owner_id=self.user.pk,
            recipient_ids=[r.pk for r in data.get("recipients") or []],
            list_ids=[item.pk for item in data.get("lists") or []],
            all_recipients=bool(data.get("all_recipients")),
        )
        recipients = ngettext("%(count)s recipient", "%(count)s recipients", count) % {
            "count": f"{count:,}"
        }
        first = data.get("first_send_at")
        if not count:
            text = gettext("Nobody to send to yet: choose recipients or lists.")
        elif first is None or first <= timezone.now():
            text = gettext("Sends to %(recipients)s now.") % {"recipients": recipients}
        else:
            when = formats.date_format(timezone.localtime(first), "DATETIME_FORMAT")
            text = gettext("Starts on %(when)s; %(recipients)s as of now.") % {
                "when": when,
                "recipients": recipients,
            }
        return JsonResponse({"count": count, "text": text})


# --- Lists ---------------------------------------------------------------------------------------


class ListListView(ListPageMixin, TemplateView):
    template_name = "mailing/list_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        search = self.search()
        return super().get_context_data(
            page_obj=audience.list_page(user=self.user, search=search, number=self.page_number()),
            search=search,
            **kwargs,
        )


class ListDetailView(ListPageMixin, OwnedObjectMixin, TemplateView):
    model = RecipientList
    template_name = "mailing/list_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        recipient_list = self.get_object()
        search = self.search()
        counts = audience.with_member_counts(RecipientList.objects.filter(pk=recipient_list.pk))
        return super().get_context_data(
            object=recipient_list,
            counts=counts.get(),
            can_write=can_write(self.user, recipient_list),
            page_obj=audience.member_page(
                recipient_list=recipient_list, search=search, number=self.page_number()
            ),
            search=search,
            **kwargs,
        )


class ListFormView(OwnedFormView):
    model = RecipientList
    form_class = RecipientListForm
    list_url = "mailing:list_list"

    def get_success_url(self) -> str:
        assert self.object is not None
        return reverse("mailing:list_detail", args=[self.object.pk])


class ListCreateView(ListFormView):
    success_message = _("List created.")

    def save(self, data: dict[str, Any]) -> RecipientList:
        return services.list_create(owner=self.user, **data)


class ListUpdateView(ListFormView):
    success_message = _("List updated.")

    def save(self, data: dict[str, Any]) -> RecipientList:
        return services.list_update(user=self.user, recipient_list=self.object, **data)


class ListDeleteView(OwnedDeleteView):
    model = RecipientList
    list_url = "mailing:list_list"
    template_name = "mailing/list_confirm_delete.html"

    def perform_delete(self, obj: RecipientList) -> None:
        services.list_delete(user=self.user, recipient_list=obj)


def _picked_ids(form: MembersForm, *, user: Any, extra: Q | None = None) -> list[int]:
    """The recipient ids a members form names: its checkboxes, or all the search matches."""
    data = form.cleaned_data
    if not data.get("all_matching"):
        return [recipient.pk for recipient in data["recipients"]]
    recipients = objects_for(user, Recipient).filter(owner=user)
    query = data.get("q", "").strip()
    if query:
        recipients = recipients.filter(
            Q(email__icontains=query) | Q(full_name__icontains=query) | Q(comment__icontains=query)
        )
    if extra is not None:
        recipients = recipients.filter(extra)
    return list(recipients.values_list("pk", flat=True))


class ListAddRecipientsView(DashboardMixin, View):
    """From the recipients page: put the ticked recipients (or all the search matches) in a
    list."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AddToListForm(request.POST, owner=self.user)
        back = reverse("mailing:recipient_list")
        if request.POST.get("q", "").strip():
            back += "?" + urlencode({"q": request.POST["q"].strip()})
        if not form.is_valid():
            messages.error(request, gettext("Choose a list and at least one recipient."))
            return redirect(back)
        recipient_list = form.cleaned_data["list"]
        ids = _picked_ids(form, user=self.user)
        if not ids:
            messages.error(request, gettext("Choose a list and at least one recipient."))
            return redirect(back)
        try:
            added = services.list_add_recipients(
                user=self.user, recipient_list=recipient_list, recipient_ids=ids
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect(back)
        messages.success(
            request,
            ngettext(
                "%(count)s recipient added to “%(list)s”.",
                "%(count)s recipients added to “%(list)s”.",
                added,
            )
            % {"count": f"{added:,}", "list": recipient_list.name},
        )
        return redirect(back)


class ListRemoveMembersView(OwnedObjectMixin, DashboardMixin, View):
    """From a list's page: take the ticked members out of the list."""

    model = RecipientList
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        recipient_list = self.get_object()
        form = MembersForm(request.POST, owner=self.user)
        if not form.is_valid() or not form.cleaned_data["recipients"]:
            messages.error(request, gettext("Choose at least one member."))
            return redirect("mailing:list_detail", recipient_list.pk)
        removed = services.list_remove_recipients(
            user=self.user,
            recipient_list=recipient_list,
            recipient_ids=[r.pk for r in form.cleaned_data["recipients"]],
        )
        messages.success(
            request,
            ngettext(
                "%(count)s member removed from the list.",
                "%(count)s members removed from the list.",
                removed,
            )
            % {"count": f"{removed:,}"},
        )
        return redirect("mailing:list_detail", recipient_list.pk)


# --- CSV import ----------------------------------------------------------------------------------


class RecipientImportView(DashboardMixin, TemplateView):
    """Upload a CSV file, see what importing it would do (the preview), then confirm."""

    template_name = "mailing/recipient_import.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        ensure_can_write(self.user)
        initial = {}
        list_id = query_id(request.GET.get("list", ""))
        if list_id is not None:
            initial["list"] = objects_for(self.user, RecipientList).filter(pk=list_id).first()
        form = ImportForm(owner=self.user, initial=initial)
        return self.render_to_response(self.get_context_data(form=form))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        ensure_can_write(self.user)
        form = ImportForm(request.POST, request.FILES, owner=self.user)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        recipient_list = form.cleaned_data["list"]
        try:
            stash = imports.stash_upload(
                owner=self.user,
                upload=form.cleaned_data["file"],
                list_id=getattr(recipient_list, "pk", None),
            )
        except ImportFileError as error:
            form.add_error("file", str(error))
            return self.render_to_response(self.get_context_data(form=form), status=400)
        try:
            with stash.path.open("rb") as file:
                report = imports.recipients_import(
                    owner=self.user, file=file, recipient_list=recipient_list
                )
        except ImportFileError as error:
            imports.drop_stash(stash)
            form.add_error("file", str(error))
            return self.render_to_response(self.get_context_data(form=form), status=400)
        return self.render_to_response(
            self.get_context_data(
                form=form,
                report=report,
                token=stash.token,
                recipient_list=recipient_list,
                file_name=form.cleaned_data["file"].name,
            )
        )


class RecipientImportConfirmView(DashboardMixin, View):
    """The preview's Import button: the stored file imported in one transaction."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            stash = imports.open_stash(owner=self.user, token=request.POST.get("token", ""))
            recipient_list = None
            if stash.list_id is not None:
                recipient_list = get_object_for(self.user, RecipientList, pk=stash.list_id)
            with stash.path.open("rb") as file:
                report = imports.recipients_import(
                    owner=self.user, file=file, recipient_list=recipient_list, commit=True
                )
        except ImportFileError as error:
            messages.error(request, str(error))
            return redirect("mailing:recipient_import")
        imports.drop_stash(stash)
        text = gettext(
            "Import done: %(created)s created, %(updated)s updated, %(unchanged)s unchanged, "
            "%(rejected)s rejected."
        ) % {
            "created": f"{report.created:,}",
            "updated": f"{report.updated:,}",
            "unchanged": f"{report.unchanged:,}",
            "rejected": f"{report.rejected_count:,}",
        }
        if recipient_list is not None:
            text += " " + ngettext(
                "%(count)s new member in “%(list)s”.",
                "%(count)s new members in “%(list)s”.",
                report.added_to_list,
            ) % {"count": f"{report.added_to_list:,}", "list": recipient_list.name}
            messages.success(request, text)
            return redirect("mailing:list_detail", recipient_list.pk)
        messages.success(request, text)
        return redirect("mailing:recipient_list")
