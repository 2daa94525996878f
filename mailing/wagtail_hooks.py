"""Campaign data in the Wagtail admin for managers: lists, filters, search and inspect views,
all read-only (changes happen in the dashboard, through the owner)."""

from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from wagtail_modeladmin.helpers import PermissionHelper
from wagtail_modeladmin.options import ModelAdmin, ModelAdminGroup, modeladmin_register

from core.roles import is_manager

from .models import Attempt, Mailing, Message, Recipient


class ReadOnlyForManagers(PermissionHelper):
    """Managers may list and inspect; nobody may add, change or delete here."""

    def user_can_list(self, user) -> bool:
        return is_manager(user)

    def user_can_inspect_obj(self, user, obj) -> bool:
        return is_manager(user)

    def user_can_create(self, user) -> bool:
        return False

    def user_can_edit_obj(self, user, obj) -> bool:
        return False

    def user_can_delete_obj(self, user, obj) -> bool:
        return False


class CampaignModelAdmin(ModelAdmin):
    permission_helper_class = ReadOnlyForManagers
    inspect_view_enabled = True
    list_per_page = 50
    related: tuple[str, ...] = ("owner",)

    def get_queryset(self, request: HttpRequest):
        # Every column that crosses a relation is fetched in the same query.
        return super().get_queryset(request).select_related(*self.related)


class RecipientAdmin(CampaignModelAdmin):
    model = Recipient
    menu_icon = "group"
    list_display = ("email", "full_name", "owner", "created_at")
    search_fields = ("email", "full_name", "owner__email")
    inspect_view_fields = ("email", "full_name", "comment", "owner", "created_at", "updated_at")


class MessageAdmin(CampaignModelAdmin):
    model = Message
    menu_icon = "mail"
    list_display = ("subject", "owner", "updated_at")
    search_fields = ("subject", "body", "owner__email")
    inspect_view_fields = ("subject", "body", "owner", "created_at", "updated_at")


class MailingAdmin(CampaignModelAdmin):
    model = Mailing
    menu_icon = "calendar-alt"
    related = ("owner", "message", "disabled_by")
    # A text state rather than a boolean column: the admin's yes/no icons belong to
    # django.contrib.admin, which this site does not install (they would show broken).
    list_display = ("__str__", "message", "owner", "periodicity", "state", "next_send_at")
    list_filter = ("status", "periodicity", "is_disabled")
    search_fields = ("message__subject", "owner__email")
    inspect_view_fields = (
        "message",
        "owner",
        "periodicity",
        "status",
        "first_send_at",
        "end_at",
        "next_send_at",
        "is_disabled",
        "disabled_by",
        "disabled_at",
    )

    def state(self, obj: Mailing) -> str:
        return gettext("Disabled") if obj.is_disabled else obj.get_status_display()

    state.short_description = _("status")  # type: ignore[attr-defined]
    state.admin_order_field = "status"  # type: ignore[attr-defined]


class AttemptAdmin(CampaignModelAdmin):
    model = Attempt
    menu_icon = "list-ul"
    related = ("mailing__owner", "mailing__message")
    list_display = ("attempted_at", "mailing", "email", "status", "server_response")
    list_filter = ("status", "attempted_at")
    search_fields = ("email", "server_response")
    inspect_view_fields = ("attempted_at", "mailing", "email", "status", "server_response")


@modeladmin_register
class CampaignsAdminGroup(ModelAdminGroup):
    menu_label = _("Campaigns")
    menu_icon = "mail"
    menu_order = 300
    items = (MailingAdmin, MessageAdmin, RecipientAdmin, AttemptAdmin)
