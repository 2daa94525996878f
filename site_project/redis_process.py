"""A private `redis-server` on a free loopback port, for tests and the outage benchmark: they
stop, freeze and restart it without touching the machine's shared Redis."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisProcess:
    """`with RedisProcess() as redis:` a running server at `redis.url`; `stop()` ends the
    process (connections refused), `freeze()` sends SIGSTOP (connections hang until their
    timeout, as with a host that does not answer), `start()` and `thaw()` undo them."""

    def __init__(self, executable: str | None = None) -> None:
        self.executable = executable or shutil.which("redis-server") or "redis-server"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = Path(tempfile.mkdtemp(prefix="redis-test-"))
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - a fixed executable and arguments
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}")
            if self.ping():
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def keys(self, pattern: str = "*") -> list[str]:
        """The server's keys, read over a connection of their own."""
        client = redis.Redis.from_url(self.url, socket_timeout=2)
        try:
            return sorted(
                k.decode() if isinstance(k, bytes) else str(k) for k in client.keys(pattern)
            )
        finally:
            client.close()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self.thaw()
            self._process.terminate()
            self._process.wait(timeout=10)

    def freeze(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGCONT)

    def __enter__(self) -> "RedisProcess":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
