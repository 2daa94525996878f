"""View glue every dashboard page shares, whichever app it belongs to.

Views look objects up through the permission rule (someone else's answers 404) and hand the
write to one service, which decides what the user may do (403) and what the input may be
(a ValidationError naming the field, shown next to it by `show_errors`).
"""

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Model
from django.http import HttpRequest

from users.models import User

from .refusals import ActionRefused, log_refusal
from .roles import can_write, get_object_for


class DashboardMixin(LoginRequiredMixin):
    """Signed-in users only. (Every answer under /dashboard/ is marked private by
    `mailing.middleware.DashboardMiddleware`, error pages included.)"""

    request: HttpRequest

    @property
    def user(self) -> User:
        """The signed-in user: LoginRequiredMixin lets no one else through."""
        return cast(User, self.request.user)


class OwnedObjectMixin:
    """Looks the object up through the permission rule: someone else's answers 404."""

    model: type[Model]
    request: HttpRequest
    kwargs: dict[str, Any]

    def get_object(self, queryset: object = None) -> Any:
        return get_object_for(self.request.user, self.model, pk=self.kwargs["pk"])


class ListPageMixin(DashboardMixin):
    """A paginated list: the page number, the query string to keep across pages, and
    whether the user may create (which decides the "New …" buttons and empty-state actions)."""

    def page_number(self) -> str:
        return self.request.GET.get("page", "1")

    def search(self) -> str:
        """The list's ?q=, as the database can take it (`query_text`)."""
        return query_text(self.request.GET.get("q", ""))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        query = self.request.GET.copy()
        query.pop("page", None)
        return super().get_context_data(  # type: ignore[misc]
            query=query.urlencode(), can_create=can_write(self.request.user), **kwargs
        )


def query_id(value: str) -> int | None:
    """An id from a query string (?owner=…): plain ASCII digits within a database integer;
    anything else ("²", "١٢", "-1", thirty nines) is None, which lists treat as no filter."""
    value = value.strip()
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def query_text(value: str) -> str:
    """A search from a query string, fit for any database: control characters (NUL, which
    PostgreSQL refuses in a string, among them) dropped, trimmed, at most 200 characters."""
    return "".join(char for char in value if char.isprintable() or char == " ")[:200].strip()


def refuse(request: HttpRequest, refusal: ActionRefused) -> None:
    """A service refused the action in the object's current state: log it once, say why."""
    log_refusal(request, reason=str(refusal))
    messages.error(request, str(refusal))


def show_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: under each field it names, and above the
    form what names no field of this form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(
            field if field in form.fields and field != NON_FIELD_ERRORS else None, errors
        )
