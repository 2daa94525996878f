from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailingConfig(AppConfig):
    name = "mailing"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # Signal receivers only. The scheduler is deliberately never started here: it runs
        # only in `manage.py run_scheduler`, never inside web workers (each worker would send
        # every mail again).
        from . import signals  # noqa: F401
