"""Writes on campaign data, one module per concern; this package is their one way in.

Every function takes keyword-only plain data (models and values, never a form), checks the
permission rule itself (`core.roles`: PermissionDenied, answered 403), keeps the per-owner
caches honest (`cache.bump`) and leaves a structured log line. Input the rules refuse raises
`django.core.exceptions.ValidationError` naming the field; an action the object's current
state does not allow raises `ActionRefused`, whose text says why.

* `recipients`: recipient_create, recipient_update, recipient_delete
* `messages`: message_create, message_update, message_delete
* `lists`: list_create, list_update, list_delete, list_add_recipients, list_remove_recipients
* `mailings`: mailing_create, mailing_update, mailing_delete
* `copies`: message_duplicate, mailing_duplicate
* `people`: owner_data_delete (an account being deleted)
* `signup`: signup_request, signup_confirm, ip_may_sign_up (public sign-up, double opt-in)
* `actions`: mailing_send_now, mailing_schedule, mailing_stop, mailing_pause,
  mailing_resume, mailing_disable, mailing_enable, mailings_hold_for_blocked_owner,
  mailings_resume_for_unblocked_owner
* `suppressions`: unsubscribe, suppression_lift
"""

from core.refusals import ActionRefused

from .actions import (
    mailing_disable,
    mailing_enable,
    mailing_pause,
    mailing_resume,
    mailing_schedule,
    mailing_send_now,
    mailing_stop,
    mailings_hold_for_blocked_owner,
    mailings_resume_for_unblocked_owner,
)
from .copies import mailing_duplicate, message_duplicate
from .lists import (
    list_add_recipients,
    list_create,
    list_delete,
    list_remove_recipients,
    list_update,
)
from .mailings import mailing_create, mailing_delete, mailing_update
from .messages import message_create, message_delete, message_update
from .people import owner_data_delete
from .recipients import DUPLICATE_EMAIL, recipient_create, recipient_delete, recipient_update
from .signup import ip_may_sign_up, signup_confirm, signup_request
from .suppressions import suppression_lift, unsubscribe

__all__ = [
    "DUPLICATE_EMAIL",
    "ActionRefused",
    "ip_may_sign_up",
    "list_add_recipients",
    "list_create",
    "list_delete",
    "list_remove_recipients",
    "list_update",
    "mailing_create",
    "mailing_delete",
    "mailing_disable",
    "mailing_duplicate",
    "mailing_enable",
    "mailing_pause",
    "mailing_resume",
    "mailing_schedule",
    "mailing_send_now",
    "mailing_stop",
    "mailing_update",
    "mailings_hold_for_blocked_owner",
    "mailings_resume_for_unblocked_owner",
    "message_create",
    "message_delete",
    "message_duplicate",
    "message_update",
    "owner_data_delete",
    "recipient_create",
    "recipient_delete",
    "recipient_update",
    "signup_confirm",
    "signup_request",
    "suppression_lift",
    "unsubscribe",
]
