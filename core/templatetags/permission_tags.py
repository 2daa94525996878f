"""The permission rule in templates, so that a page offers exactly the buttons the rule allows:

{% load permission_tags %}
{% can_write request.user recipient as editable %}
{% can_manage request.user "block" account as may_block %}
"""

from django import template
from django.db.models import Model

from users.models import User

from .. import roles

register = template.Library()


@register.simple_tag
def can_write(user: roles.AnyUser, obj: Model | None = None) -> bool:
    """`core.roles.can_write` for a template."""
    return roles.can_write(user, obj)


@register.simple_tag
def can_manage(
    user: roles.AnyUser, action: roles.ManagerAction, target: User | None = None
) -> bool:
    """`core.roles.can_manage` for a template."""
    return roles.can_manage(user, action, target)
