"""Dagster's run queue, dequeued as soon as a run is queued instead of at the next tick.

Dagster's QueuedRunCoordinatorDaemon looks for queued runs every `dequeue_interval_seconds` (at
least 1 s, in 0.5 s steps), so a run the backfill daemon queued waited 0.5-1 s for its launch: a
fan-out of 15 s of work paid it once per slot. `PromptQueuedRunCoordinator` (dagster.yaml's run
coordinator) queues a run as Dagster's does and then signals it; `PromptRunQueueDaemon` is
Dagster's daemon whose wait between iterations ends early on that signal. Which runs start, the
pool and run limits and their order stay Dagster's: the iteration is the same, only its start moves.
The signal reaches the daemon when the run is queued in the daemon's process (the backfill daemon,
sensors, schedules); a run queued elsewhere (the UI) waits for the tick as before.
"""

from __future__ import annotations

import sys
import threading
import time
from threading import Event
from typing import Any

from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.workspace.context import IWorkspaceProcessContext
from dagster._daemon.daemon import DaemonIterator, SpanMarker
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from dagster._utils.error import serializable_error_info_from_exc_info

# How often the wait yields to Dagster's daemon loop, which writes heartbeats between yields.
YIELD_SECONDS = 0.5


class PromptQueuedRunCoordinator(QueuedRunCoordinator):
    """Dagster's QueuedRunCoordinator that also sets `queued` once it has queued a run."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.queued = threading.Event()

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        """Queue the run (Dagster's RUN_ENQUEUED), then wake the run queue's daemon."""
        run = super().submit_run(context)
        self.queued.set()
        return run


class PromptRunQueueDaemon(QueuedRunCoordinatorDaemon):
    """Dagster's run queue daemon whose wait between iterations ends when a run is queued."""

    def core_loop(
        self, workspace_process_context: IWorkspaceProcessContext[Any], shutdown_event: Event
    ) -> DaemonIterator:
        """IntervalDaemon's loop (iterate, then wait out the interval), woken by `queued`."""
        coordinator = workspace_process_context.instance.run_coordinator
        # Another coordinator never wakes it: the plain interval, as Dagster's daemon.
        queued = (
            coordinator.queued
            if isinstance(coordinator, PromptQueuedRunCoordinator)
            else threading.Event()
        )
        while True:
            started = time.monotonic()
            # Cleared before the iteration reads the queue: a run queued while it runs may have
            # been missed by it, so it wakes the next one.
            queued.clear()
            yield SpanMarker.START_SPAN
            try:
                yield from self.run_iteration(workspace_process_context)
            except Exception:
                error_info = serializable_error_info_from_exc_info(sys.exc_info())
                self._logger.error("Caught error:\n%s", error_info)
                yield error_info
            yield SpanMarker.END_SPAN
            while not shutdown_event.is_set():
                remaining = self.interval_seconds - (time.monotonic() - started)
                if remaining <= 0 or queued.wait(min(remaining, YIELD_SECONDS)):
                    break
                yield None
            yield None
