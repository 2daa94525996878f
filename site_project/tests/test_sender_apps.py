"""A sender process (manage.py sets SITE_APPS=delivery for send_mailing and run_senders) loads
only the delivery engine's apps; the value is read strictly, like every other variable."""

from .test_settings import assert_refused, run

PRINT_APPS = "import django; django.setup(); from django.conf import settings; print(*settings.INSTALLED_APPS)"


def apps(**env: str) -> list[str]:
    result = run(["-c", PRINT_APPS], DJANGO_SETTINGS_MODULE="site_project.settings.dev", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_a_sender_loads_the_engines_apps_and_not_wagtail():
    sender = apps(SITE_APPS="delivery")

    assert {"mailing", "users", "django.contrib.auth", "django.contrib.contenttypes"} <= set(sender)
    assert not [app for app in sender if app.startswith(("wagtail", "home", "blog", "allauth"))]
    assert "wagtail" in apps() and "blog" in apps()  # everything, by default


RUN_MANAGE = """
import contextlib, runpy, sys
sys.argv = ["manage.py", *sys.argv[1:]]
with contextlib.suppress(SystemExit):
    runpy.run_path("manage.py", run_name="__main__")
print("wagtail loaded:", "wagtail" in sys.modules, file=sys.stderr)
"""


def test_manage_py_starts_the_sending_commands_without_wagtail():
    for command, loaded in (("send_mailing", False), ("run_senders", False), ("check", True)):
        result = run(["-c", RUN_MANAGE, command, "--help"])

        assert result.returncode == 0, result.stderr
        assert f"wagtail loaded: {loaded}" in result.stderr, (command, result.stderr)


def test_an_unknown_value_is_refused_by_name():
    result = run(
        ["-c", PRINT_APPS], DJANGO_SETTINGS_MODULE="site_project.settings.dev", SITE_APPS="some"
    )

    assert_refused(result, "SITE_APPS", "'some'")
