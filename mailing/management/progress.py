"""A text progress bar for management commands: redrawn in place on a terminal, a line per
tenth of the work when the output is a file or a pipe (CI logs stay short)."""

import time
from functools import partial
from typing import TextIO

from django.core.management.base import OutputWrapper


class ProgressBar:
    def __init__(
        self, *, total: int, stream: TextIO | OutputWrapper, label: str = "", width: int = 30
    ) -> None:
        self.total = max(total, 0)
        self.stream = stream
        self.label = label
        self.width = width
        self.started = time.monotonic()
        self._interactive = bool(getattr(stream, "isatty", lambda: False)())
        # A command's OutputWrapper would end every write with a newline.
        self._write = (
            partial(stream.write, ending="") if isinstance(stream, OutputWrapper) else stream.write
        )
        self._last_draw = 0.0
        self._last_tenth = -1

    def update(self, done: int, detail: str = "") -> None:
        fraction = min(done / self.total, 1.0) if self.total else 1.0
        if self._interactive:
            now = time.monotonic()
            if now - self._last_draw < 0.1 and fraction < 1.0:
                return
            self._last_draw = now
            self._write("\r" + self._line(done, fraction, detail))
        else:
            tenth = int(fraction * 10)
            if tenth == self._last_tenth:
                return
            self._last_tenth = tenth
            self._write(self._line(done, fraction, detail) + "\n")
        self.stream.flush()

    def finish(self, done: int, detail: str = "") -> None:
        """Draw the final state: what was done, which may fall short of the total (work
        another process took, or that was cancelled), so the bar may end below 100%."""
        self._last_draw = 0.0
        self._last_tenth = -1
        self.update(done, detail)
        if self._interactive:
            self._write("\n")
            self.stream.flush()

    def _line(self, done: int, fraction: float, detail: str) -> str:
        filled = int(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        prefix = f"{self.label} " if self.label else ""
        return (
            f"{prefix}[{bar}] {fraction:4.0%} {done}/{self.total} {rate:,.0f}/s {detail}".rstrip()
        )
