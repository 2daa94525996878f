"""A graceful stop for the commands that send: Ctrl+C (SIGINT) and `systemctl stop` or
`docker stop` (SIGTERM) let each connection finish the message in hand, record it and hand
the rest of its claims back to the queue; a second signal stops at once."""

import signal
import threading
from collections.abc import Callable

from mailing import delivery

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop:
    """Installs the handler for SIGINT and SIGTERM while in its `with` block.

    The first signal sets `delivery.stop_requested` (senders watch it) and calls `on_stop`;
    the second raises KeyboardInterrupt. `signum` tells which signal stopped the work."""

    def __init__(
        self, *, notice: Callable[[str], object], on_stop: Callable[[], object] | None = None
    ) -> None:
        self.signum: int | None = None
        self._notice = notice
        self._on_stop = on_stop
        self._previous: dict[int, signal._HANDLER] = {}

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process stopped by a signal: 128 + its number."""
        return 128 + (self.signum or signal.SIGINT)

    def __enter__(self) -> "GracefulStop":
        # Python lets only the main thread install handlers (a command called from a test
        # thread runs without them).
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._handle) for number in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, signum: int, frame) -> None:
        if delivery.stop_requested.is_set():
            raise KeyboardInterrupt
        self.signum = signum
        delivery.stop_requested.set()
        self._notice(
            f"\n{signal.Signals(signum).name}: stopping after the message in hand "
            "(a second signal stops at once)…"
        )
        if self._on_stop is not None:
            self._on_stop()
