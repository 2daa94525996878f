from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """What the site's apps share: the permission rule (`core.roles`), refusals and the
    dashboard's view mixins. No models."""

    name = "core"
    verbose_name = _("Core")
