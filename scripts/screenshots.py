"""Screenshots for the README: seeds demo content into a throw-away database, serves it, signs
in as the demo accounts and saves PNGs to docs/screenshots/.

    make screenshots                      # or: .venv/bin/python scripts/screenshots.py
    .venv/bin/python scripts/screenshots.py --port 8105 --out /tmp/shots

Nothing touches var/ or the database in DATABASE_URL: everything lives in a temporary folder
that is removed at the end. Needs Chromium (`make browser`).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import (
    Browser,
    FloatRect,
    Locator,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from e2e.browser import (  # noqa: E402 - needs BASE_DIR on the path
    CHROMIUM,
    CHROMIUM_ARGS,
    sign_in,
    sign_in_to_admin,
)
from mailing.smtp_sink import SmtpSink, free_port  # noqa: E402

VIEWPORT: ViewportSize = {"width": 1280, "height": 860}
USER = ("user@example.com", "demo-user-pass")
MANAGER = ("manager@example.com", "demo-manager-pass")
EDITOR = ("editor@example.com", "demo-editor-pass")


def demo_environment(folder: Path) -> dict[str, str]:
    """Development settings on a SQLite file in `folder`, whatever .env says."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "site_project.settings.dev",
        "VAR_DIR": str(folder),
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "REDIS_URL": "",
        "MEDIA_ROOT": str(folder / "media"),
        "LOG_DIR": str(folder / "log"),
        "LOG_LEVEL": "WARNING",
        "EMAIL_HOST": "",
        "DEBUG": "false",  # no debug toolbar or error pages in the pictures
        "SERVE_MEDIA": "true",
    }


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True
    )


@contextmanager
def serving(env: dict[str, str], port: int) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/", timeout=2):  # noqa: S310 - loopback
                    break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"The development server did not start on {url}.") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def settle(page: Page) -> None:
    """Every image loaded (lazy ones too) and every chart drawn."""
    page.evaluate(
        "document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')"
    )
    page.wait_for_function(
        "[...document.images].every(img => img.complete && img.naturalWidth > 0)"
    )
    page.wait_for_function(
        "[...document.querySelectorAll('canvas')].every(c => window.Chart && Chart.getChart(c))"
    )


def person(browser: Browser, base_url: str) -> Page:
    """A page in a browser profile of its own (cookies, cache): one per person."""
    return browser.new_context(base_url=base_url, viewport=VIEWPORT).new_page()


def uncover_first_paragraph(editor: Page) -> None:
    """Wagtail's editor keeps its action bar ("Save draft") fixed at the bottom of the window,
    over the start of the body: make the window just tall enough that the body's first
    paragraph ends above the bar, so the picture shows title, intro, cover and some text."""

    def box_of(locator: Locator) -> FloatRect:
        position = locator.bounding_box()
        if position is None:
            raise SystemExit(f"Not on the editor's page: {locator}")
        return position

    def bottom(box: Locator) -> float:
        position = box_of(box)
        return position["y"] + position["height"]

    # The body's paragraphs are the page's only rich text (Draftail's contenteditable boxes).
    paragraph = editor.locator("[contenteditable=true]").first
    expect(paragraph).not_to_be_empty()
    bar = editor.locator("footer.footer")
    height = bottom(paragraph) + box_of(bar)["height"] + 24  # a little air above the bar
    editor.set_viewport_size({"width": VIEWPORT["width"], "height": round(height)})
    if bottom(paragraph) > box_of(bar)["y"]:
        raise SystemExit("The editor's action bar still covers the body's first paragraph.")


def shoot(page: Page, path: Path, *, full_page: bool = True) -> None:
    page.wait_for_load_state()  # a link just clicked may still be loading its page
    settle(page)
    page.screenshot(path=path, full_page=full_page, animations="disabled")
    print(f"  {path.relative_to(BASE_DIR) if path.is_relative_to(BASE_DIR) else path}")


def send_for_real(user: Page, env: dict[str, str]) -> None:
    """The user presses "Send now" on the demo's weekly digest and `send_mailing` delivers it
    to an SMTP server on loopback (which refuses one address), while the page watches."""
    user.get_by_role("link", name="Mailings", exact=True).click()
    user.get_by_role("link", name="Your weekly digest").click()
    found = re.search(r"/mailings/(\d+)/", user.url)
    if found is None:
        raise SystemExit(f"Not a mailing's page: {user.url}")
    mailing_id = found.group(1)
    user.get_by_test_id("send-now").click()
    with SmtpSink() as sink:
        sink.script("grace.hopper@example.net", "550")
        mail_env = {**env, "EMAIL_HOST": sink.host, "EMAIL_PORT": str(sink.port)}
        subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, "manage.py", "send_mailing", mailing_id],
            cwd=BASE_DIR,
            env=mail_env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    expect(user.get_by_test_id("progress")).to_have_attribute("aria-valuenow", "100")
    user.get_by_role("link", name="Done — refresh the report").click()
    expect(user.get_by_test_id("attempt-table")).to_be_visible()


def take_screenshots(browser: Browser, base_url: str, out: Path, env: dict[str, str]) -> None:
    user = person(browser, base_url)
    sign_in(user, *USER)
    send_for_real(user, env)
    shoot(user, out / "mailing-report.png")
    user.get_by_role("link", name="Dashboard").click()
    expect(user).to_have_url(re.compile(r"/dashboard/$"))
    shoot(user, out / "dashboard.png")

    visitor = person(browser, base_url)
    visitor.goto("/")
    shoot(visitor, out / "home.png")
    visitor.get_by_test_id("blog-card").first.get_by_role("link").click()
    expect(visitor.get_by_test_id("view-count")).to_be_visible()
    shoot(visitor, out / "blog-post.png")

    manager = person(browser, base_url)
    sign_in(manager, *MANAGER)
    manager.get_by_role("link", name="Users").click()
    expect(manager.get_by_test_id("user-table")).to_be_visible()
    shoot(manager, out / "manager-users.png")

    editor = person(browser, base_url)
    sign_in_to_admin(editor, *EDITOR)
    editor.goto("/admin/pages/")
    editor.get_by_role("link", name="Writing a subject line people open").click()
    expect(editor.locator("#page-edit-form")).to_be_visible()
    uncover_first_paragraph(editor)
    # Wagtail scrolls the editor inside <main>, not the document: the window is the whole picture.
    shoot(editor, out / "wagtail-editor.png", full_page=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port", type=int, default=0, help="Port on 127.0.0.1 (default: any free one)."
    )
    parser.add_argument("--out", type=Path, default=BASE_DIR / "docs" / "screenshots")
    options = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"Chromium is missing at {CHROMIUM}: run `make browser` first.")

    options.out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="campaigns-screenshots-"))
    try:
        env = demo_environment(folder)
        print("Seeding demo content into a temporary database…")
        manage(env, "migrate", "--noinput", "--verbosity", "0")
        manage(env, "seed_demo")
        with serving(env, options.port or free_port()) as base_url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            print(f"Saving screenshots of {base_url} to {options.out}:")
            take_screenshots(browser, base_url, options.out.resolve(), env)
            browser.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
