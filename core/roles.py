"""Who may do what on the dashboard: the one permission rule, used by both apps.

* Every dashboard query starts from `objects_for(user, Model)`: a user's own rows, or every
  row for a manager. An object outside that set answers 404, so its existence is not revealed
  (views look objects up through `get_object_for`).
* Writes (`can_write`) are for the owner alone, and not while they are blocked. Managers are
  read-only on campaign data, their own included.
* Managers' actions (`can_manage`: block, unblock, disable) need the action's permission and
  an account that is not blocked; nobody blocks or unblocks their own account, and staff
  accounts are not blocked here.

Services call the `ensure_…` forms (PermissionDenied with the reason, answered as a 403);
templates and views ask `can_…` to offer only the buttons the rule allows. The auth groups that
hold the permissions are set up by `users.groups`.
"""

from typing import Literal, TypeVar

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from users.models import User

AnyUser = User | AnonymousUser
M = TypeVar("M", bound=Model)
ManagerAction = Literal["block", "unblock", "disable"]

BLOCKED_MESSAGE = _(
    "Your account is blocked: you can read your campaigns but not change or send them."
)
MANAGER_MESSAGE = _("Managers have read-only access to campaigns.")
MANAGER_BLOCKED_MESSAGE = _("Your account is blocked: managers' actions are not available to you.")
_ACTION_PERMISSIONS: dict[str, tuple[str, Promise]] = {
    "block": ("users.block_user", _("Only managers can block users.")),
    "unblock": ("users.block_user", _("Only managers can unblock users.")),
    "disable": ("mailing.disable_mailing", _("Only managers can disable mailings.")),
}


def is_manager(user: AnyUser | None) -> bool:
    """Managers (and superusers) see every user's campaigns, read-only."""
    return bool(user and user.is_authenticated and user.has_perm("mailing.view_all_campaigns"))


def owner_lookup(model: type[Model]) -> str:
    """How rows of `model` reach their owner: the model's `owner_lookup` (for example
    "mailing__owner" for a run), or its own `owner` field."""
    return getattr(model, "owner_lookup", "owner")


def objects_for(user: AnyUser, model_or_queryset: type[M] | QuerySet[M]) -> QuerySet[M]:
    """The rows of a model (or queryset) `user` may see: their own, or all for a manager."""
    if isinstance(model_or_queryset, QuerySet):
        queryset, model = model_or_queryset, model_or_queryset.model
    else:
        queryset, model = model_or_queryset._default_manager.all(), model_or_queryset
    if is_manager(user):
        return queryset
    return queryset.filter(**{owner_lookup(model): user})


def get_object_for(user: AnyUser, model_or_queryset: type[M] | QuerySet[M], **lookup: object) -> M:
    """The object if `user` may see it; 404 otherwise (never 403: existence stays hidden)."""
    return get_object_or_404(objects_for(user, model_or_queryset), **lookup)


def can_write(user: AnyUser, obj: Model | None = None) -> bool:
    """May `user` create (obj=None) or change `obj`? Only an owner who is not blocked and not
    a manager (managers read campaigns, they do not write them)."""
    if not isinstance(user, User) or user.is_blocked or is_manager(user):
        return False
    return obj is None or getattr(obj, "owner_id", None) == user.pk


def ensure_can_write(user: AnyUser, obj: Model | None = None) -> None:
    """Raise PermissionDenied, with the reason, unless `can_write(user, obj)`."""
    if can_write(user, obj):
        return
    blocked = isinstance(user, User) and user.is_blocked
    raise PermissionDenied(str(BLOCKED_MESSAGE if blocked else MANAGER_MESSAGE))


def _manage_refusal(user: AnyUser, action: ManagerAction, target: User | None = None) -> str | None:
    """Why `user` may not take the manager's `action` (on the account `target` for block and
    unblock), or None when they may."""
    permission, not_a_manager = _ACTION_PERMISSIONS[action]
    if not isinstance(user, User) or not user.has_perm(permission):
        return str(not_a_manager)
    if user.is_blocked:
        return str(MANAGER_BLOCKED_MESSAGE)
    if target is not None and target.pk == user.pk:
        return str(_("You cannot block or unblock your own account."))
    if action == "block" and target is not None and (target.is_staff or target.is_superuser):
        return str(_("Staff accounts cannot be blocked here."))
    return None


def can_manage(user: AnyUser, action: ManagerAction, target: User | None = None) -> bool:
    """May `user` block or unblock `target`, or disable mailings?"""
    return _manage_refusal(user, action, target) is None


def ensure_can_manage(user: AnyUser, action: ManagerAction, target: User | None = None) -> None:
    """Raise PermissionDenied, with the reason, unless `can_manage(user, action, target)`."""
    refusal = _manage_refusal(user, action, target)
    if refusal is not None:
        raise PermissionDenied(refusal)
