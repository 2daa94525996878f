"""Refusals: an action the rules do not allow right now, and its one log line.

A service raises `PermissionDenied` (the user may not, ever: answered 403), a
`django.core.exceptions.ValidationError` naming the field (the input is wrong: shown next to
the field), or `ActionRefused` (the object's state does not allow it now: shown as a flash
message). Refusals are logged once, by `log_refusal`: who, which action, why.
"""

import logging

from django.http import HttpRequest

logger = logging.getLogger(__name__)


class ActionRefused(Exception):
    """The action is not possible in the object's current state; the text says why, to the
    person who asked."""


def log_refusal(request: HttpRequest, *, reason: str) -> None:
    """One WARNING line for an action the site refused: who, which action, why. No traceback:
    a refusal is the rule working, not a fault."""
    match = request.resolver_match
    user = getattr(request, "user", None)
    logger.warning(
        "action.refused",
        extra={
            "user_id": user.pk if user is not None and user.is_authenticated else None,
            "action": match.view_name if match else None,
            "method": request.method,
            "path": request.path,
            "reason": reason,
        },
    )
