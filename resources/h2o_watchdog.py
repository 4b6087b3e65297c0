"""A watchdog turning a lost H2O node into an H2OCloudError in the training thread, in bounded time.

The h2o client gives no way to abort a request: a job poll on a cloud with a dead node blocks in
a socket read with no timeout, forever. The watchdog checks the cloud every `interval_s` from its
own thread; when a node is lost it sends SIGUSR1 to the main thread, whose handler raises the
error. The signal interrupts the blocked read (PEP 475 retries a system call only when the handler
returns), like Ctrl-C would. Only the main thread can be interrupted this way (Dagster runs a step
there, as the CLI does); elsewhere the error is recorded and the session skips its cleanup.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from resources.h2o_cloud import H2OCloudError, check_cloud


class CloudWatchdog:
    """While entered, checks the cloud at `url` and raises H2OCloudError when a node is lost."""

    def __init__(
        self, url: str, expected_size: int | None, node_timeout_s: float, interval_s: float = 1.0
    ) -> None:
        self.url = url
        self.expected_size = expected_size
        self.node_timeout_s = node_timeout_s
        self.interval_s = interval_s
        self.lost: H2OCloudError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="h2o-cloud-watchdog", daemon=True)
        self._main = threading.current_thread() is threading.main_thread()
        self._previous_handler: Any = None

    def __enter__(self) -> CloudWatchdog:
        if self._main:
            self._previous_handler = signal.signal(signal.SIGUSR1, self._raise_lost)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        if self._main:
            # The thread has ended, so any signal it sent was delivered before this line runs.
            signal.signal(signal.SIGUSR1, self._previous_handler)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                check_cloud(self.url, self.expected_size, self.node_timeout_s)
            except H2OCloudError as lost:
                self.lost = lost
                if self._main:
                    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)
                return

    def _raise_lost(self, signum: int, frame: FrameType | None) -> None:
        if self.lost is not None:
            raise self.lost
