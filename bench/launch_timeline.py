"""Where a fan-out's launch goes: each run's lifecycle events, timed from the backfill's creation.

Read from Dagster's event log (RUN_ENQUEUED ... STEP_START, the engine events between them) plus
the run's first training start and its end, so the time from the backfill to the first training
can be split into the backfill daemon's pickup, the run queue, the launch (the code server
spawning the run's process) and the process start-up (imports, code location, resources).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dagster import DagsterEventType, DagsterInstance

# The events that mark a run's way from its creation to its first step, in order.
LIFECYCLE = frozenset(
    {
        DagsterEventType.RUN_ENQUEUED,
        DagsterEventType.RUN_DEQUEUED,
        DagsterEventType.RUN_STARTING,
        DagsterEventType.ENGINE_EVENT,
        DagsterEventType.RUN_START,
        DagsterEventType.RESOURCE_INIT_STARTED,
        DagsterEventType.RESOURCE_INIT_SUCCESS,
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_INPUT,
        DagsterEventType.RUN_SUCCESS,
        DagsterEventType.RUN_FAILURE,
    }
)
MESSAGE_CHARS = 60


@dataclass(frozen=True)
class Mark:
    """One point of a run's timeline: seconds since the backfill's creation and what happened."""

    seconds: float
    what: str


def run_marks(
    instance: DagsterInstance,
    run_id: str,
    origin: float,
    first_training: float | None,
) -> list[Mark]:
    """The lifecycle events of `run_id` and its first training start, seconds after `origin`."""
    marks = []
    for entry in instance.all_logs(run_id, of_type=set(LIFECYCLE)):
        event = entry.dagster_event
        if event is None:
            continue
        what = event.event_type_value
        if event.event_type == DagsterEventType.ENGINE_EVENT:
            what += f" {(entry.user_message or event.message or '')[:MESSAGE_CHARS]!r}"
        elif event.event_type == DagsterEventType.STEP_INPUT:
            what += f" {event.event_specific_data.input_name}"  # type: ignore[union-attr]
        marks.append(Mark(entry.timestamp - origin, what))
    if first_training is not None:
        marks.append(Mark(first_training - origin, "FIRST_TRAINING_START"))
    return sorted(marks, key=lambda mark: mark.seconds)


def timeline_lines(
    instance: DagsterInstance,
    run_ids: Sequence[str],
    origin: float,
    first_trainings: dict[str, float],
) -> list[str]:
    """One line per mark, run by run, as `run +seconds what`."""
    lines = []
    for run_id in run_ids:
        for mark in run_marks(instance, run_id, origin, first_trainings.get(run_id)):
            lines.append(f"  {run_id[:8]} {mark.seconds:+7.2f} s  {mark.what}")
    return lines
