"""Measuring tools for the benchmark commands: postfix's smtp-sink as a counting SMTP server,
and the peak memory of a process tree."""

import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from django.core.management.base import CommandError

from mailing.smtp_sink import free_port


def postfix_binary(name: str) -> str | None:
    found = shutil.which(name)
    return found or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)


class Sink:
    """postfix's smtp-sink on a free port, counting the messages it accepts (its -c counter)."""

    def __init__(self) -> None:
        binary = postfix_binary("smtp-sink")
        if binary is None:
            raise CommandError(
                "postfix's smtp-sink is not installed: run scripts/ensure-smtp-sink.sh."
            )
        self.port = free_port()
        self._process = subprocess.Popen(  # noqa: S603 (postfix's binary, our arguments)
            [binary, "-c", "-u", "nobody", f"127.0.0.1:{self.port}", "256"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._count = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        _wait_for_port(self.port)

    def _read(self) -> None:
        assert self._process.stdout is not None
        tail = b""
        while chunk := self._process.stdout.read1(65536):  # type: ignore[attr-defined]
            tail = (tail + chunk)[-256:]
            counts = re.findall(rb"mesg=(\d+)", tail)
            if counts:
                self._count = int(counts[-1])

    def stop(self) -> int:
        """Stop the sink; returns how many messages it accepted."""
        time.sleep(0.2)  # the last counter update
        self._process.terminate()
        self._process.wait(timeout=10)
        self._reader.join(timeout=5)
        return self._count


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise CommandError(f"nothing listens on port {port}")


class PeakMemory:
    """Follows the peak resident memory (VmHWM) of a child process and of its own children,
    until they exit; `stop()` gives the largest single process's peak, in MB.

    Not getrusage's ru_maxrss: that counts the forked copy of this (larger) benchmark process
    from before the child's exec, so every child would show the parent's size."""

    def __init__(self, pid: int) -> None:
        self._root = pid
        self._peaks: dict[int, int] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._done.is_set():
            pids = [self._root]
            for pid in pids:
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self._peaks[pid] = max(self._peaks.get(pid, 0), int(line.split()[1]))
                    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                    pids.extend(int(child) for child in children)
                except (OSError, ValueError):
                    continue  # gone
            self._done.wait(0.05)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return max(self._peaks.values(), default=0) / 1024
