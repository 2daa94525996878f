"""The one permission rule for campaign data.

* Every dashboard query starts from `objects_for(user, Model)`: a user's own rows, or every
  row for a manager. An object outside that set answers 404, so its existence is not revealed.
* Writes (`ensure_can_write`) are for the owner alone, and not while they are blocked;
  managers read everything but may write only through their own actions (block, disable).
"""

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404

from users.roles import is_manager

from .models import Attempt, DailyStat, Delivery, Run

# How each model reaches its owner; the rest have an `owner` field of their own.
_OWNER_LOOKUPS = {
    Attempt: "mailing__owner",
    DailyStat: "mailing__owner",
    Run: "mailing__owner",
    Delivery: "run__mailing__owner",
}

BLOCKED_MESSAGE = (
    "Your account is blocked: you can read your campaigns but not change or send them."
)
MANAGER_MESSAGE = "Managers have read-only access to other users' campaigns."


def objects_for(user, model_or_queryset: type[Model] | QuerySet) -> QuerySet:
    if isinstance(model_or_queryset, QuerySet):
        queryset, model = model_or_queryset, model_or_queryset.model
    else:
        queryset, model = model_or_queryset._default_manager.all(), model_or_queryset
    if is_manager(user):
        return queryset
    return queryset.filter(**{_OWNER_LOOKUPS.get(model, "owner"): user})


def get_object_for(user, model_or_queryset: type[Model] | QuerySet, **lookup) -> Model:
    """The object if `user` may see it; 404 otherwise (never 403: existence stays hidden)."""
    return get_object_or_404(objects_for(user, model_or_queryset), **lookup)


def can_write(user, obj: Model | None = None) -> bool:
    """May `user` create (obj=None) or change `obj`?"""
    if not user.is_authenticated or user.is_blocked:
        return False
    if obj is None:
        return not is_manager(user)
    return obj.owner_id == user.pk


def ensure_can_write(user, obj: Model | None = None) -> None:
    if can_write(user, obj):
        return
    raise PermissionDenied(BLOCKED_MESSAGE if user.is_blocked else MANAGER_MESSAGE)
