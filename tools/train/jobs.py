"""The one job controller: submit, start, cancel, resume and watch runs, one at a time per machine.

    from tools.train import jobs
    run_id = jobs.submit(plan)      # a Plan: stored first, then started now if the machine is free, else queued
    jobs.status(run_id).phase       # queued, starting, preparing, training, evaluating, done, failed, cancelled
    jobs.cancel(run_id)             # a queued job leaves the queue; a running one checkpoints and stops
    jobs.resume(run_id)             # a cancelled or failed run continues from its last checkpoint
    jobs.wait(run_id)               # until it is done, failed or cancelled
    jobs.start_next()               # start the oldest queued job if nothing else runs
    jobs.list_runs(owner="ann")     # with logins, each call names the user; another user's run is "no run"

The CLI, the app and the agent all come through here. Training takes every core (or the whole GPU) it can
get, so two runs at once would each run at half speed or run out of memory: the machine's one slot is
claimed inside a `BEGIN IMMEDIATE` transaction of the store, which holds across processes (two apps, an
app and a `finetune-assistant train`), not with a lock of one process. The approved plan is written to
the store before anything else happens, so a crash at any point loses no job; a job's own process starts
the next queued one when it exits, so the queue moves with no app or browser open (the app's worker still
calls `start_next()` every few seconds, to recover from a job killed before it could). While a live
process holds GPU memory for serving (`tools.serve.holds`, the app's comparison engine), only that process
starts queued runs, once it has made room: no other starter can free it (H5).
"""

from __future__ import annotations

import sqlite3
import time

from tools import procs, store
from tools.serve import holds
from tools.train import launch, runs
from tools.train.plan import Plan, PlanError, TrainingPlan
from tools.train.run_dir import RunDir
from tools.train.runs import ACTIVE, FINAL, QUEUED, RunError, RunStatus

__all__ = ["ACTIVE", "FINAL", "QUEUED", "RunError", "RunStatus", "cancel", "list_runs", "queue_position", "queued",
           "queued_plan", "resume", "start_next", "status", "submit", "training_now", "wait"]


def as_plan(plan: Plan | TrainingPlan) -> Plan:
    """A bare TrainingPlan (prepared data, nothing to prepare) becomes a Plan with Plan's defaults."""
    return plan if isinstance(plan, Plan) else Plan(training=plan)


def submit(plan: Plan | TrainingPlan, owner: str | None = None) -> str:
    """Queue `plan` and start it at once when nothing else runs. Returns the run id either way.

    `owner`: the logged-in user the run belongs to (None without logins).

    Problems this machine can see now (no data, a used output folder) raise `PlanError`/`RunError` before
    anything is stored; problems that appear while it waits fail the run with the same message.
    """
    plan = as_plan(plan)
    run_id = launch.new_run_id(plan.training)
    run = launch.run_dir_for(plan, run_id)
    launch.check(plan, run)
    training = plan.training
    with store.transaction(immediate=True) as db:
        if runs.find_by_dir(run.path, db) is not None:
            raise RunError(f"{run.path} is the folder of another run; choose another output folder.")
        db.execute("INSERT INTO queue_plans (run_id, plan_json) VALUES (?, ?)", (run_id, plan.model_dump_json()))
        runs.upsert(run_id, db=db, status=QUEUED, run_dir=str(run.path), name=training.name,
                    base_model=training.base_model, objective=training.objective, method=training.method,
                    owner=owner)
    start_next()
    return run_id


def start_next(room_made: bool = False) -> str | None:
    """Start the oldest queued job if nothing runs; returns its id, or None. Safe to call from anywhere, any time.

    While a process holds GPU memory for serving, this does nothing unless `room_made`: the holder (the app)
    starts the job after shrinking or stopping its engine (`Services.move_queue`), within seconds.
    """
    while True:
        claimed = _claim(room_made)
        if claimed is None:
            return None
        run_id, run_dir, plan_json = claimed
        try:
            launch.launch(_load_plan(plan_json, run_id), run_id, RunDir(run_dir))
        except (PlanError, RunError, OSError, ValueError) as exc:  # e.g. the data folder was deleted while it waited
            _fail_start(run_id, str(exc))
            continue  # the next job in line may well be fine
        _forget_plan(run_id)  # only now: a crash before the spawn leaves the job queued, never lost (L2)
        return run_id


def _claim(room_made: bool = False) -> tuple[str, str, str] | None:
    """(run id, folder, plan) of the job this caller may start, with its row moved to "starting"; None when busy
    or when a serving engine holds GPU memory that this caller has not made room in."""
    with store.transaction(immediate=True) as db:
        if _busy(db) or (not room_made and holds.holders(db)):
            return None
        for row in runs.with_status((QUEUED,), db):
            found = db.execute("SELECT plan_json FROM queue_plans WHERE run_id = ?", (row["run_id"],)).fetchone()
            if found is None:  # a queue row of an older release whose plan was deleted before a crash
                runs.upsert(row["run_id"], db=db, status="failed", error="its queued plan was lost; approve the plan again")
                continue
            runs.set_status(row["run_id"], "starting", (QUEUED,), db=db, pid=None, pid_start=None, error=None)
            return row["run_id"], row["run_dir"], found["plan_json"]
    return None


def _busy(db: sqlite3.Connection) -> bool:
    """Whether a job holds the machine, after reconciling rows with the processes behind them."""
    for row in runs.with_status(ACTIVE, db):
        stale = row["status"] == "starting" and row.get("pid") is None
        if stale and time.time() - row["updated_at"] >= runs.START_GRACE_S:
            found = procs.processes_running("tools.train", row["run_dir"])
            if found:  # spawned, then its starter died (kill -9) before recording it: this is its process
                row = {**row, "pid": found[0], "pid_start": procs.process_start_time(found[0])}
                runs.upsert(row["run_id"], db=db, pid=row["pid"], pid_start=row["pid_start"])
                db.execute("DELETE FROM queue_plans WHERE run_id = ?", (row["run_id"],))
            elif _has_plan(db, row["run_id"]):
                # Claimed, then its starter died before the spawn: the plan is still here, so it waits again.
                runs.upsert(row["run_id"], db=db, status=QUEUED)
                continue
        if runs.refresh(row, db)["status"] in ACTIVE:
            return True
    return False


def _has_plan(db: sqlite3.Connection, run_id: str) -> bool:
    return db.execute("SELECT 1 FROM queue_plans WHERE run_id = ?", (run_id,)).fetchone() is not None


def queued_plan(run_id: str) -> Plan | None:
    """The plan a queued job will start with; None once it has started or left the queue."""
    with store.connect() as db:
        row = db.execute("SELECT plan_json FROM queue_plans WHERE run_id = ?", (run_id,)).fetchone()
    return _load_plan(row[0], run_id) if row is not None else None


def _load_plan(plan_json: str, run_id: str) -> Plan:
    try:
        return Plan.model_validate_json(plan_json)
    except ValueError:
        pass
    try:  # queued by an older release, which stored the bare TrainingPlan
        return as_plan(TrainingPlan.model_validate_json(plan_json))
    except ValueError as exc:
        raise PlanError(f"the queued plan of {run_id} no longer validates: {exc}") from None


def _fail_start(run_id: str, error: str) -> None:
    with store.transaction(immediate=True) as db:
        runs.upsert(run_id, db=db, status="failed", error=error[:1000])
        db.execute("DELETE FROM queue_plans WHERE run_id = ?", (run_id,))


def _forget_plan(run_id: str) -> None:
    with store.connect() as db:
        db.execute("DELETE FROM queue_plans WHERE run_id = ?", (run_id,))


def cancel(run_id: str, wait_s: float = 0, owner: str | None = None) -> RunStatus:
    """Take a queued job out of the queue, or ask a running one to stop after its step with a checkpoint."""
    with store.transaction(immediate=True) as db:
        row = runs.find(run_id, db, owner)
        if row["status"] == QUEUED:
            runs.upsert(row["run_id"], db=db, status="cancelled", error="removed from the queue before it started")
            db.execute("DELETE FROM queue_plans WHERE run_id = ?", (row["run_id"],))
            return runs.to_status({**row, "status": "cancelled", "error": "removed from the queue before it started"})
        if row["status"] not in ACTIVE:
            return runs.to_status(row)
        runs.upsert(row["run_id"], db=db, status="cancelling")
    launch.stop(row)
    if wait_s:
        return wait(row["run_id"], timeout_s=wait_s)
    return status(row["run_id"])


def resume(run_id: str, owner: str | None = None, room_made: bool = False) -> str:
    """Continue a cancelled or failed run from its last checkpoint, only while nothing else runs (one job at a time)
    and, while a serving engine holds GPU memory, only from the holder once it made room (`room_made`)."""
    with store.transaction(immediate=True) as db:
        row = runs.refresh(runs.find(run_id, db, owner), db)
        if row["status"] == QUEUED:
            raise RunError(f"run {row['run_id']} is still queued; it starts when the machine is free.")
        if row["status"] in ACTIVE:
            raise RunError(f"run {row['run_id']} is still {row['status']}; cancel it first or wait for it to finish.")
        if row["status"] == "completed":
            raise RunError(f"run {row['run_id']} already completed; launch a new run to train further.")
        if not RunDir(row["run_dir"]).holds_run():
            raise RunError(f"run {row['run_id']} never started, so there is nothing to resume; submit its plan again.")
        if _busy(db):
            raise RunError("another run is training; resume this one when it has finished (or cancel that one).")
        if not room_made and holds.holders(db):
            raise RunError("the app's comparison engine holds GPU memory; resume this run from the app's Train tab "
                           "(it makes room first).")
        # Progress restarts at the checkpoint it resumes from; a killed attempt's steps after it are redone.
        runs.set_status(row["run_id"], "starting", ("failed", "cancelled"), db=db, error=None, pid=None, pid_start=None,
                        step=RunDir(row["run_dir"]).kept_step())
    try:
        launch.respawn(row)
    except OSError as exc:
        runs.upsert(row["run_id"], status="failed", error=f"could not start the process: {exc}")
        raise RunError(f"run {row['run_id']} could not start: {exc}") from None
    return row["run_id"]


def status(run_id: str, owner: str | None = None) -> RunStatus:
    """The run's state now, by id or folder (with `owner`: only that user's runs exist)."""
    launch.reap()
    return runs.status(run_id, owner)


def list_runs(owner: str | None = None) -> list[RunStatus]:
    """Every run (or one user's), queued ones included, newest first."""
    launch.reap()
    return runs.list_runs(owner)


def wait(run_id: str, timeout_s: float | None = None, poll_s: float = 0.5) -> RunStatus:
    """Block until the run is done, failed or cancelled (or `timeout_s` passes).

    While it waits in the queue this also moves the queue, so a job whose predecessor was killed before it
    could hand over still starts.
    """
    deadline = None if timeout_s is None else time.time() + timeout_s
    while True:
        current = status(run_id)
        if current.status in FINAL or (deadline is not None and time.time() > deadline):
            return current
        if current.status == QUEUED:
            start_next()
        time.sleep(poll_s)


def queued() -> list[dict]:
    """Waiting rows, oldest first."""
    return runs.with_status((QUEUED,))


def queue_position(run_id: str) -> int | None:
    """How many jobs wait ahead of `run_id` plus one (1 = next), or None when it is not queued."""
    for index, row in enumerate(queued(), start=1):
        if row["run_id"] == run_id:
            return index
    return None


def training_now() -> RunStatus | None:
    """The job that holds the machine, if any."""
    for row in runs.with_status(ACTIVE):
        row = runs.refresh(row)
        if row["status"] in ACTIVE:
            return runs.to_status(row)
    return None
