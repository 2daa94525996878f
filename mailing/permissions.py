"""The one permission rule for campaign data and for the managers' actions.

* Every dashboard query starts from `objects_for(user, Model)`: a user's own rows, or every
  row for a manager. An object outside that set answers 404, so its existence is not revealed.
* Writes (`can_write`) are for the owner alone, and not while they are blocked. Managers are
  read-only on campaign data, their own included.
* Managers' actions (`can_manage`: block, unblock, disable) need the action's permission and
  an account that is not blocked; nobody blocks or unblocks their own account, and staff
  accounts are not blocked here.
"""

from typing import Literal

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404

from users.models import User
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
MANAGER_MESSAGE = "Managers have read-only access to campaigns."

ManagerAction = Literal["block", "unblock", "disable"]
_ACTION_PERMISSIONS: dict[str, tuple[str, str]] = {
    "block": ("users.block_user", "Only managers can block users."),
    "unblock": ("users.block_user", "Only managers can unblock users."),
    "disable": ("mailing.disable_mailing", "Only managers can disable mailings."),
}
MANAGER_BLOCKED_MESSAGE = "Your account is blocked: managers' actions are not available to you."


def objects_for(user: User, model_or_queryset: type[Model] | QuerySet) -> QuerySet:
    """The rows of a model (or queryset) `user` may see: their own, or all for a manager."""
    if isinstance(model_or_queryset, QuerySet):
        queryset, model = model_or_queryset, model_or_queryset.model
    else:
        queryset, model = model_or_queryset._default_manager.all(), model_or_queryset
    if is_manager(user):
        return queryset
    return queryset.filter(**{_OWNER_LOOKUPS.get(model, "owner"): user})


def get_object_for(user: User, model_or_queryset: type[Model] | QuerySet, **lookup) -> Model:
    """The object if `user` may see it; 404 otherwise (never 403: existence stays hidden)."""
    return get_object_or_404(objects_for(user, model_or_queryset), **lookup)


def can_write(user: User | AnonymousUser, obj: Model | None = None) -> bool:
    """May `user` create (obj=None) or change `obj`? Only an owner who is not blocked and not
    a manager (managers read campaigns, they do not write them)."""
    if not user.is_authenticated or user.is_blocked or is_manager(user):
        return False
    return obj is None or obj.owner_id == user.pk


def ensure_can_write(user: User, obj: Model | None = None) -> None:
    """Raise PermissionDenied, with the reason, unless `can_write(user, obj)`."""
    if can_write(user, obj):
        return
    raise PermissionDenied(BLOCKED_MESSAGE if user.is_blocked else MANAGER_MESSAGE)


def _manage_refusal(
    user: User | AnonymousUser, action: ManagerAction, target: User | None = None
) -> str | None:
    """Why `user` may not take the manager's `action` (on the account `target` for block and
    unblock), or None when they may."""
    permission, not_a_manager = _ACTION_PERMISSIONS[action]
    if not user.is_authenticated or not user.has_perm(permission):
        return not_a_manager
    if user.is_blocked:
        return MANAGER_BLOCKED_MESSAGE
    if target is not None and target.pk == user.pk:
        return "You cannot block or unblock your own account."
    if action == "block" and target is not None and (target.is_staff or target.is_superuser):
        return "Staff accounts cannot be blocked here."
    return None


def can_manage(
    user: User | AnonymousUser, action: ManagerAction, target: User | None = None
) -> bool:
    """May `user` block or unblock `target`, or disable mailings?"""
    return _manage_refusal(user, action, target) is None


def ensure_can_manage(user: User, action: ManagerAction, target: User | None = None) -> None:
    """Raise PermissionDenied, with the reason, unless `can_manage(user, action, target)`."""
    refusal = _manage_refusal(user, action, target)
    if refusal is not None:
        raise PermissionDenied(refusal)
