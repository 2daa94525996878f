"""The end-to-end suite: Debian's Chromium, driven by Playwright, against pytest-django's
live server on loopback, with a real SMTP server (aiosmtpd, the `smtp_sink` fixture) so that
account mail and campaign mail really leave the application.

Every test here uses the live server, so the root conftest makes it transactional with a
serialized rollback: each starts from the migrated content (home page, role groups).
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import Message as EmailMessage
from pathlib import Path
from typing import cast

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone
from django.utils.text import slugify
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from blog.models import BlogIndexPage, BlogPage

# The accounts' password lives in the root conftest (its make_user fixture); the e2e tests take
# it from here, so that only this line reaches the root conftest as a top-level module.
from conftest import PASSWORD as PASSWORD
from e2e.browser import CHROMIUM, CHROMIUM_ARGS

# The tests import sign_in from here; it lives with the browser set-up, which `make screenshots`
# shares, so that a person signs in one way in both.
from e2e.browser import sign_in as sign_in
from home.models import HomePage
from mailing.smtp_sink import SmtpSink
from mailing.tests.senders import sender_env

ARTIFACTS = Path(settings.BASE_DIR) / "test-results"

# Pages answer in milliseconds; the generous limit only matters on a loaded CI machine.
expect.set_options(timeout=15_000)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Chromium for one test.

    Per test, not per session: Playwright's sync API keeps an asyncio loop running on this
    thread while it is started, and Django then refuses ORM calls ("you cannot call this from
    an async context") and hands this thread a separate set of database connections (asgiref's
    context-local storage), which do not carry what the test database set-up prepared. So the
    loop runs only during the test: the database is reset before it starts, the tests' own
    queries are allowed while it runs, and its connections are closed before it stops."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"The end-to-end tests need Chromium at {CHROMIUM}. Install it with "
            "`make browser` (scripts/ensure-chromium.sh: apt-get install chromium) "
            "or point E2E_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
                connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(
    browser: Browser, live_server, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Page]]:
    """Opens a page in a fresh browser profile (its own cookies and cache): one per person.

    When the test fails, a screenshot of every page it opened is saved under test-results/."""
    contexts: list[BrowserContext] = []

    def open_page() -> Page:
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page

    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        pages = [page for context in contexts for page in context.pages]
        for number, page in enumerate(pages):
            # A crashed page has no picture to give; the test's own failure says enough.
            with contextlib.suppress(PlaywrightError):
                page.screenshot(
                    path=ARTIFACTS / f"{request.node.name}-{number}.png", full_page=True
                )
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[[], Page]) -> Page:
    return new_page()


@pytest.fixture
def image_file(tmp_path: Path) -> Callable[..., Path]:
    """A small PNG on disk, as a person would pick it in a file dialog."""

    def make(name: str, colour: tuple[int, int, int] = (40, 110, 200)) -> Path:
        path = tmp_path / name
        Image.new("RGB", (640, 360), colour).save(path)
        return path

    return make


# --- Acting as a person ------------------------------------------------------------------------


def link_in_mail(sink: SmtpSink, to: str, path_pattern: str) -> str:
    """The one link matching `path_pattern` in the newest mail the SMTP server took for `to`."""
    mails = [mail for mail in sink.received if mail.rcpt_to.lower() == to.lower()]
    assert mails, f"no mail reached the SMTP server for {to}"
    text = plain_text(mails[-1].message)
    links = set(re.findall(rf"https?://[^\s\"'<>]*{path_pattern}[^\s\"'<>]*", text))
    assert len(links) == 1, f"expected one link matching {path_pattern!r} in:\n{text}"
    return links.pop()


def plain_text(message: EmailMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = cast(bytes, part.get_payload(decode=True))
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("the mail has no text/plain part")


# --- The delivery process ----------------------------------------------------------------------


@pytest.fixture
def smtp_sink(smtp_sink: SmtpSink, settings) -> SmtpSink:
    """The root fixture's SMTP server, with a patient client: here the server shares this
    process with the live server and the browser driver, and account mail (sign-up, password
    reset) is sent inside the request that a test is waiting on."""
    settings.EMAIL_TIMEOUT = 10
    return smtp_sink


@pytest.fixture
def scheduler(transactional_db, smtp_sink: SmtpSink, tmp_path: Path) -> Iterator[None]:
    """`manage.py run_scheduler` in its own process, as a deployment runs it, delivering to the
    test's SMTP server.

    A real subprocess rather than the jobs called from a thread here: it exercises the command
    itself (APScheduler, its job store, fresh database connections, SIGTERM shutdown) and it
    shares nothing with the web server but the database, the cache and the SMTP server, as in
    production. It can see the test database because both backends name it explicitly: a file
    for SQLite (TEST_DB_NAME), test_<name> for PostgreSQL. With REDIS_URL set it shares the
    cache too; without, each process has its own local-memory cache, which the pages involved
    (progress, report) do not read."""
    log_path = tmp_path / "scheduler.log"
    env = sender_env(smtp_sink, EMAIL_TIMEOUT="10", MAILING_TICK_SECONDS="1")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_scheduler"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield
        assert process.poll() is None, (
            f"the scheduler exited early ({process.returncode}):\n{log_path.read_text()}"
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        print(f"--- scheduler output ---\n{log_path.read_text()}")


# --- Blog content ------------------------------------------------------------------------------


@pytest.fixture
def blog(transactional_db) -> BlogIndexPage:
    """The blog section under the home page, with no posts yet."""
    home = HomePage.objects.get()
    index = BlogIndexPage(title="Blog", slug="blog")
    home.add_child(instance=index)
    index.save_revision().publish()
    return index


def publish_post(index: BlogIndexPage, title: str, *, days_ago: int = 0) -> BlogPage:
    post = BlogPage(
        title=title,
        slug=slugify(title),
        intro=f"A short introduction to “{title}”.",
        date_published=timezone.localdate() - timedelta(days=days_ago),
        body=[{"type": "paragraph", "value": f"<p>All about {title.lower()}.</p>"}],
    )
    index.add_child(instance=post)
    post.save_revision().publish()
    return post
