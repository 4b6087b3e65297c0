"""Run a pipeline of this project headless through Mage's own scheduler; write a JSON report.

Runs in the Mage virtualenv: `python headless.py --project DIR --pipeline NAME --variables JSON
--report FILE --timeout S`. `mage run` cannot run dynamic blocks in 0.9.80 ("unsupported operand
type(s) for //: 'NoneType' and 'int'"), so this triggers the pipeline's API trigger (triggers.yaml)
and drives `schedule_all()` as the scheduler process would. Every wait is bounded: at the timeout
the run is cancelled and the report names the blocks still queued or running. The report is
written before Mage's workers are stopped, and the process then exits without joining them: a worker
killed while it held the job queue's lock leaves every other worker (and a normal interpreter exit,
which joins children) waiting on that lock for ever.
Set MAGE_DATA_DIR and MAGE_DATABASE_CONNECTION_URL before starting it (Mage reads them on import).
"""

import argparse
import json
import os
import re
import sys
import time
import traceback

import psutil

TRIGGER = "converge_headless"
FINISHED = {"completed", "failed", "cancelled"}
# The exceptions converge's blocks raise, as they appear in a block's log (JSON-escaped text).
ERROR_LINE = re.compile(r'(FailedCandidatesError|ConvergeStepError|ValueError): ([^\n"\\]+)')


def _say(message):
    # The marker lets the caller tell these lines from Mage's own logging.
    print(f"[converge-mage] {message}", flush=True)


def _epoch(moment):
    return moment.timestamp() if moment is not None else None


def _block_runs(pipeline_run):
    runs = []
    for block_run in sorted(pipeline_run.block_runs, key=lambda b: b.id):
        record = {
            "block_uuid": block_run.block_uuid,
            "status": str(block_run.status.value),
            "started_at": _epoch(block_run.started_at),
            "completed_at": _epoch(block_run.completed_at),
        }
        if record["status"] == "failed":
            try:
                content = block_run.logs.get("content") or ""
            except Exception as exc:  # a missing log must not hide the failure itself
                content = f"(log unreadable: {exc})"
            errors = ERROR_LINE.findall(content)
            record["error"] = ": ".join(errors[-1]) if errors else content[-600:]
        runs.append(record)
    return runs


def _revive_worker_pool(queue):
    """Restart Mage's worker pool when jobs wait in its queue and no pool is left to run them.

    Mage 0.9.80 race: the pool process exits when it sees an empty queue, and `enqueue` starts a
    new one only if the old is not alive yet; a job put just then (the queue's feeder thread has
    not flushed it) waits forever, and `has_job` keeps it from being enqueued again. This is the
    block that "stayed queued": measured here on the dynamic block's controller run.
    """
    if not queue.queue.empty() and not queue.is_worker_pool_alive():
        _say("restarting Mage's worker pool: jobs were queued with no pool to run them")
        queue.start_worker_pool()


def _stop_queue(jobs):
    """Stop Mage's job queue: nothing more is enqueued, running block runs are killed."""
    try:
        jobs.stop()
    except Exception as exc:  # 0.9.80's stop() names a missing `Queue.Empty` when a get races
        _say(f"Mage's job queue did not stop cleanly ({exc!r})")


def _kill_children():
    """Kill every process this one started (Mage's worker pool, workers and queue manager)."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        child.kill()
    psutil.wait_procs(children, timeout=10)


def main():
    """Trigger the pipeline, schedule until it finishes or times out, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--pipeline", required=True)
    parser.add_argument("--variables", default="{}")
    parser.add_argument("--report", required=True)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--poll", type=float, default=0.5)
    args = parser.parse_args()

    from mage_ai.settings.repo import set_repo_path

    set_repo_path(args.project)
    from mage_ai.orchestration.db.database_manager import database_manager

    database_manager.run_migrations()
    from mage_ai.orchestration.job_manager import get_job_manager
    from mage_ai.orchestration.pipeline_scheduler import schedule_all
    from mage_ai.orchestration.triggers.api import trigger_pipeline

    jobs = get_job_manager()
    jobs.start()  # the queue whose worker processes run the block runs (the scheduler's job)
    schedule_all()  # syncs triggers.yaml into Mage's database, so the API trigger exists
    run = trigger_pipeline(
        args.pipeline,
        repo_path=args.project,
        variables=json.loads(args.variables),
        schedule_name=TRIGGER,
        verbose=False,
    )
    _say(f"pipeline run {run.id} of {args.pipeline} created")
    deadline = time.monotonic() + args.timeout
    seen = {}
    while True:
        schedule_all()
        _revive_worker_pool(jobs.queue)
        run.refresh()
        for block_run in run.block_runs:
            status = str(block_run.status.value)
            if seen.get(block_run.block_uuid) != status:
                seen[block_run.block_uuid] = status
                _say(f"block {block_run.block_uuid}: {status}")
        status = str(run.status.value)
        if status in FINISHED:
            break
        if time.monotonic() > deadline:
            waiting = sorted(
                f"{b.block_uuid} ({b.status.value})"
                for b in run.block_runs
                if str(b.status.value) not in FINISHED | {"upstream_failed"}
            )
            run.update(status="cancelled")
            status = "timed_out"
            _say(f"timed out after {args.timeout:.0f} s; not finished: {', '.join(waiting)}")
            break
        time.sleep(args.poll)
    report = {
        "pipeline_run_id": run.id,
        "status": status,
        "created_at": _epoch(run.created_at),
        "completed_at": _epoch(run.completed_at),
        "block_runs": _block_runs(run),
    }
    with open(args.report, "w") as handle:
        json.dump(report, handle, indent=2)
    _say(f"pipeline run {run.id}: {status}")
    _stop_queue(jobs)
    return 0 if status == "completed" else 1


if __name__ == "__main__":
    try:
        code = main()
    except Exception:
        traceback.print_exc()
        code = 2
    _kill_children()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # not the interpreter's exit: it would join Mage's children, killed or stuck
