"""One scheduler per database: a second `run_scheduler` (or `--once`) against the same
database waits for the first, or with --no-wait exits and names it. Real processes."""

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailing.tests.senders import MANAGE, sender_env
from mailing.tests.test_concurrency import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def start(smtp_sink, tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen, Path]]]:
    """Starts `manage.py <args>` with its output (stdout and stderr) in a file; whatever is
    still running at the end is stopped."""
    env = sender_env(smtp_sink, MAILING_TICK_SECONDS="1")
    started: list[subprocess.Popen] = []

    def run(*args: str) -> tuple[subprocess.Popen, Path]:
        output = tmp_path / f"process-{len(started)}.log"
        with output.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, str(MANAGE), *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process, output

    yield run
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def first(start) -> subprocess.Popen:
    process, output = start("run_scheduler")
    wait_until(lambda: "Scheduler running" in output.read_text(), what="the first scheduler")
    return process


@pytest.mark.parametrize("args", [["run_scheduler"], ["run_scheduler", "--once"]])
def test_a_second_scheduler_with_no_wait_exits_and_names_the_one_running(first, start, args):
    second, output = start(*args, "--no-wait")
    second.wait(timeout=60)
    text = output.read_text()

    assert second.returncode == 1, text
    assert "Another scheduler is running against this database" in text
    assert f"pid {first.pid} " in text  # it names the one running
    assert "Running " not in text  # and ran no job
    assert first.poll() is None  # the first goes on


def test_a_second_scheduler_waits_and_takes_over_when_the_first_stops(first, start):
    second, output = start("run_scheduler", "--once")
    wait_until(lambda: "Waiting for it to stop" in output.read_text(), what="the second to wait")
    assert second.poll() is None
    assert "Running " not in output.read_text()  # no job runs while the first holds the lock

    first.send_signal(signal.SIGTERM)
    first.wait(timeout=30)
    second.wait(timeout=60)
    text = output.read_text()

    assert second.returncode == 0, text
    assert "this one takes over" in text
    assert "All jobs ran once." in text
