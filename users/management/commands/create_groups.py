from django.core.management.base import BaseCommand

from users.groups import sync_groups


class Command(BaseCommand):
    help = "Create or re-sync the Managers, Bloggers and Publishers groups and their permissions."

    def handle(self, *args, **options) -> None:
        groups = sync_groups()
        for group in groups.values():
            self.stdout.write(f"{group.name}: {group.permissions.count()} permissions")
        self.stdout.write(self.style.SUCCESS("Groups are in sync."))
