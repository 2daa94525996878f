#!/usr/bin/env python
import os
import sys

# The commands that only send mail start with the delivery engine's apps alone (see SITE_APPS
# in site_project/settings/base.py): a sender starts in a fraction of a second.
SENDER_COMMANDS = {"send_mailing", "run_senders"}

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_project.settings.dev")
    if len(sys.argv) > 1 and sys.argv[1] in SENDER_COMMANDS:
        os.environ.setdefault("SITE_APPS", "delivery")

    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
