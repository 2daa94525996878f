from django.apps import AppConfig


class MailingConfig(AppConfig):
    name = "mailing"
    verbose_name = "Campaigns"
    # Deliberately no ready() hook: the scheduler runs only in `manage.py run_scheduler`,
    # never inside web workers (each worker would send every mail again).
