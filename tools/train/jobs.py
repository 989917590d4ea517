"""The training queue: one job per machine at a time; later jobs wait, visible, in first-come order.

    from tools.train.jobs import submit, start_next, queue_position
    run_id = submit(plan)        # starts now if nothing is training, else waits as "queued"
    start_next()                 # called by the app's monitor: starts the oldest queued job when free

Training takes every core (or the whole GPU) it can get, so two runs at once would each run at half speed
or run out of memory. The queue lives in the runs registry (status "queued", plan in `queue_plans`), so
it survives an app restart like the runs do.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing

from tools import paths
from tools.train import runs
from tools.train.plan import TrainingPlan

QUEUED = "queued"
_LOCK = threading.Lock()  # submit/start_next from several UI sessions at once must not start two runs

_SCHEMA = "CREATE TABLE IF NOT EXISTS queue_plans (run_id TEXT PRIMARY KEY, plan_json TEXT NOT NULL)"


def _connect() -> sqlite3.Connection:
    conn = sqlite3.connect(paths.db_path(), timeout=30)
    conn.execute(_SCHEMA)
    return conn


def busy() -> bool:
    """Whether a run is training (or starting, or cancelling) on this machine now."""
    return any(runs.refresh(row)["status"] in runs.ACTIVE for row in runs.all_runs() if row["status"] in runs.ACTIVE)


def queued() -> list[dict]:
    """Waiting runs, oldest first."""
    return sorted((r for r in runs.all_runs() if r["status"] == QUEUED), key=lambda r: r["created_at"])


def queue_position(run_id: str) -> int | None:
    """How many runs wait ahead of `run_id` plus one (1 = next), or None when it is not queued."""
    for index, row in enumerate(queued(), start=1):
        if row["run_id"] == run_id:
            return index
    return None


def submit(plan: TrainingPlan) -> str:
    """Start `plan` now when the machine is free, else queue it. Returns the run id either way."""
    from tools.train.launch import _new_run_id, launch

    with _LOCK:
        if not busy() and not queued():
            return launch(plan)
        run_id = _new_run_id(plan)
        with closing(_connect()) as conn, conn:
            conn.execute("INSERT INTO queue_plans VALUES (?, ?)", (run_id, plan.model_dump_json()))
        # The folder is made when the run starts; until then the row only says where it will be.
        run_dir = plan.output_dir or str(paths.runs_dir() / run_id)
        runs.upsert(run_id, status=QUEUED, run_dir=run_dir, name=plan.name, base_model=plan.base_model,
                    objective=plan.objective, method=plan.method)
        return run_id


def start_next() -> str | None:
    """Start the oldest queued run if nothing is training; returns its id, or None."""
    from tools.train.launch import launch

    with _LOCK:
        waiting = queued()
        if not waiting or busy():
            return None
        run_id = waiting[0]["run_id"]
        with closing(_connect()) as conn, conn:
            row = conn.execute("SELECT plan_json FROM queue_plans WHERE run_id = ?", (run_id,)).fetchone()
            conn.execute("DELETE FROM queue_plans WHERE run_id = ?", (run_id,))
        if row is None:
            runs.upsert(run_id, status="failed", error="its queued plan was lost; approve the plan again")
            return None
        try:
            launch(TrainingPlan.model_validate_json(row[0]), run_id=run_id)
        except Exception as exc:  # e.g. the data folder was deleted while it waited
            runs.upsert(run_id, status="failed", error=str(exc)[:500])
            return None
        return run_id


def resume(run_id: str) -> str:
    """Resume a cancelled or failed run, but only while nothing else trains (the one-job rule holds here too).

    Under the queue's lock, so two clicks can't start two trainers in one run folder.
    """
    from tools.train.launch import RunError
    from tools.train.launch import resume as resume_run

    with _LOCK:
        if busy():
            raise RunError("another run is training; resume this one when it has finished (or cancel that one).")
        return resume_run(run_id)


def cancel_queued(run_id: str) -> bool:
    """Take a waiting run out of the queue (it never started, so there is nothing to checkpoint)."""
    with _LOCK:
        row = runs.get(run_id)
        if not row or row["status"] != QUEUED:
            return False
        with closing(_connect()) as conn, conn:
            conn.execute("DELETE FROM queue_plans WHERE run_id = ?", (run_id,))
        runs.upsert(run_id, status="cancelled", error="removed from the queue before it started")
        return True
