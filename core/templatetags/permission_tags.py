"""The permission rule in templates, so that a page offers exactly the buttons the rule allows:

{% load permission_tags %}
{% can_write request.user recipient as editable %}
{% can_manage request.user "block" account as may_block %}
"""

from django import template
from django.db.models import Model

from users.models import User

from .. import permissions

register = template.Library()


@register.simple_tag
def can_write(user: User, obj: Model | None = None) -> bool:
    """`permissions.can_write` for a template."""
    return permissions.can_write(user, obj)


@register.simple_tag
def can_manage(user: User, action: permissions.ManagerAction, target: User | None = None) -> bool:
    """`permissions.can_manage` for a template."""
    return permissions.can_manage(user, action, target)
