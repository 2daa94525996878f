"""blog/0002 moves each post's view count out of the page row into a row of its own, and back
when unapplied: no count is lost either way. Run on a fresh SQLite database in a subprocess,
since it migrates backwards and forwards."""

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]

MIGRATE_BACK_AND_FORTH = """
import json
import django
django.setup()
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory

call_command("migrate", verbosity=0)
from blog import selectors, services
from blog.tests.factories import make_post

read, unread = make_post("Read three times"), make_post("Never read")
for _ in range(3):
    services.record_view(page=read, request=RequestFactory().get(read.url))

call_command("migrate", "blog", "0001", verbosity=0)
with connection.cursor() as cursor:
    cursor.execute("SELECT page_ptr_id, view_count FROM blog_blogpage ORDER BY page_ptr_id")
    back = dict(cursor.fetchall())

call_command("migrate", "blog", verbosity=0)
print(json.dumps({
    "back": [back[read.pk], back[unread.pk]],
    "forth": [selectors.view_count(page=read), selectors.view_count(page=unread)],
}))
"""


def test_view_counts_survive_the_migration_both_ways(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", MIGRATE_BACK_AND_FORTH],
        cwd=BASE_DIR,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DJANGO_SETTINGS_MODULE": "site_project.settings.dev",
            "DOTENV_PATH": "",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
            "VAR_DIR": str(tmp_path / "var"),
            "MEDIA_ROOT": str(tmp_path / "media"),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts == {"back": [3, 0], "forth": [3, 0]}
