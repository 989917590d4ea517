"""The runs registry: one row per run in the store's `runs` table, and the status the UI and the agent show.

Both the app and the job process write here (the store's WAL and busy timeout handle the two writers).
A row that says a process is working is only believed while that process is alive: `refresh()` checks
the PID (and its start time, so a reused PID does not count), and a run whose process died becomes
failed and resumable. `status` holds the job's phase:

    queued -> starting -> preparing -> running (training) -> evaluating -> completed
                                      \\-> cancelling -> cancelled          \\-> failed (any phase)
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tools import store
from tools.procs import process_alive
from tools.train.run_dir import RunDir

QUEUED = "queued"
ACTIVE = ("starting", "preparing", "running", "evaluating", "cancelling")
FINAL = ("completed", "failed", "cancelled")
# What a person calls each status (the CLI and the UI show these).
PHASE = {"queued": "queued", "starting": "starting", "preparing": "preparing", "running": "training",
         "evaluating": "evaluating", "cancelling": "cancelling", "completed": "done", "failed": "failed",
         "cancelled": "cancelled"}
COLUMNS = ("run_id", "name", "run_dir", "status", "pid", "pid_start", "base_model", "objective", "method",
           "step", "total_steps", "loss", "eval_loss", "error", "created_at", "updated_at", "owner")
# launch() marks a row "starting" before the process exists; past this grace a pid-less row is stale.
START_GRACE_S = 30.0


class RunError(RuntimeError):
    """A run request that can't be carried out (unknown run, already running, nothing to resume)."""


class RunStatus(BaseModel):
    """What the UI and the agent show about a run."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    name: str | None = None
    status: str
    phase: str
    run_dir: str
    base_model: str | None = None
    objective: str | None = None
    method: str | None = None
    step: int = 0
    total_steps: int | None = None
    progress: float | None = None
    eta_s: float | None = None
    elapsed_s: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    resumable: bool = False
    evaluated: bool = False
    error: str | None = None
    output_dir: str | None = None
    pid: int | None = None
    owner: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def waiting(self) -> bool:
        return self.status == QUEUED


@contextmanager
def _db(db: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
    """The caller's connection (inside its transaction) or a short-lived one of our own."""
    if db is not None:
        yield db
        return
    with store.connect() as own:
        yield own


def upsert(run_id: str, db: sqlite3.Connection | None = None, **fields: Any) -> None:
    """Insert the run or update the given fields, in one statement (unknown names are a programming error)."""
    bad = set(fields) - set(COLUMNS)
    if bad:
        raise KeyError(f"unknown runs columns: {sorted(bad)}")
    now = time.time()
    row = {"run_dir": "", "status": "starting", **fields, "run_id": run_id, "created_at": now, "updated_at": now}
    cols = ", ".join(row)
    sets = ", ".join([f"{k} = excluded.{k}" for k in fields] + ["updated_at = excluded.updated_at"])
    with _db(db) as conn:
        conn.execute(f"INSERT INTO runs ({cols}) VALUES ({', '.join('?' * len(row))}) "
                     f"ON CONFLICT(run_id) DO UPDATE SET {sets}", tuple(row.values()))


def forget(run_id: str, db: sqlite3.Connection | None = None) -> None:
    """Remove a finished throwaway run's row (a speed probe, whose only result is the measured speed)."""
    with _db(db) as conn:
        conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))


def try_upsert(run_id: str, **fields: Any) -> bool:
    """`upsert` for progress mirroring: a locked or full database is reported, never raised (L5).

    The trainer's callbacks call this; the run folder stays the record, and losing one progress update
    must not kill hours of training.
    """
    try:
        upsert(run_id, **fields)
    except sqlite3.Error as exc:
        print(f"[finetune-assistant] could not record progress in the store ({exc}); training goes on", flush=True)
        return False
    return True


def set_status(run_id: str, new: str, only_if: tuple[str, ...], db: sqlite3.Connection | None = None,
               **fields: Any) -> bool:
    """Change the status only while it is one of `only_if`: a compare-and-set, so two processes can't both win."""
    sets = ", ".join(f"{k} = ?" for k in fields)
    with _db(db) as conn:
        cur = conn.execute(
            f"UPDATE runs SET status = ?, {sets + ', ' if sets else ''}updated_at = ? "
            f"WHERE run_id = ? AND status IN ({', '.join('?' * len(only_if))})",
            (new, *fields.values(), time.time(), run_id, *only_if))
        return cur.rowcount == 1


def get(run_id: str, db: sqlite3.Connection | None = None) -> dict | None:
    with _db(db) as conn:
        row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return dict(row) if row else None


def all_runs(db: sqlite3.Connection | None = None, owner: str | None = None) -> list[dict]:
    """Every run, newest first; with `owner`, only that user's (None: every run, as for a single user)."""
    with _db(db) as conn:
        if owner is None:
            rows = conn.execute("SELECT * FROM runs ORDER BY created_at DESC").fetchall()
        else:
            rows = conn.execute("SELECT * FROM runs WHERE owner = ? ORDER BY created_at DESC", (owner,)).fetchall()
    return [dict(r) for r in rows]


def with_status(statuses: tuple[str, ...], db: sqlite3.Connection | None = None) -> list[dict]:
    """Rows in the given statuses, oldest first (the queue's order)."""
    with _db(db) as conn:
        rows = conn.execute(f"SELECT * FROM runs WHERE status IN ({', '.join('?' * len(statuses))}) "
                            "ORDER BY created_at, rowid", statuses).fetchall()
    return [dict(r) for r in rows]


def find_by_dir(run_dir: str | Path, db: sqlite3.Connection | None = None) -> dict | None:
    target = str(Path(run_dir).expanduser().resolve())
    with _db(db) as conn:
        row = conn.execute("SELECT * FROM runs WHERE run_dir = ?", (target,)).fetchone()
    return dict(row) if row else None


def find(run: str, db: sqlite3.Connection | None = None, owner: str | None = None) -> dict:
    """A row by run id or run folder, or RunError naming what to do. With `owner`, another user's run is
    answered exactly like a run that does not exist: its id tells nothing (M2)."""
    row = get(run, db) or find_by_dir(run, db)
    if row is None or (owner is not None and row.get("owner") != owner):
        raise RunError(f"no run '{run}'; `finetune-assistant runs` lists them.")
    return row


def refresh(row: dict, db: sqlite3.Connection | None = None) -> dict:
    """Reconcile an active row with reality: a dead process means the run failed (and can resume)."""
    if row["status"] not in ACTIVE or process_alive(row.get("pid"), row.get("pid_start")):
        return row
    if row["status"] == "starting" and row.get("pid") is None and time.time() - row["updated_at"] < START_GRACE_S:
        return row  # launch() is between claiming the row and starting the process
    final = _final_status_from_folder(RunDir(row["run_dir"]))
    if final is None:
        final = {"status": "failed",
                 "error": RunDir(row["run_dir"]).last_error() or "the training process stopped unexpectedly"}
    upsert(row["run_id"], db=db, **final)
    return {**row, **final}


def _final_status_from_folder(run: RunDir) -> dict | None:
    """The status the job process wrote into its run folder before exiting, if it got that far."""
    info = run.info()
    if info.get("status") in FINAL:
        return {"status": info["status"], "error": info.get("error")}
    return None


def to_status(row: dict) -> RunStatus:
    run = RunDir(row["run_dir"])
    info = run.info() if row["run_dir"] else {}
    step, total = row.get("step") or 0, row.get("total_steps")
    elapsed, eta = _timing(run.metrics() if row["run_dir"] else [], step, total)
    output = run.output if row["run_dir"] else None
    resumable = row["status"] in ("failed", "cancelled") and run.holds_run()
    return RunStatus(
        run_id=row["run_id"], name=row.get("name"), status=row["status"], phase=PHASE.get(row["status"], row["status"]),
        run_dir=str(run.path), base_model=row.get("base_model"), objective=row.get("objective"),
        method=row.get("method"), step=step, total_steps=total, progress=round(step / total, 4) if total else None,
        eta_s=eta if row["status"] in ACTIVE else None, elapsed_s=elapsed, loss=row.get("loss"),
        eval_loss=row.get("eval_loss"), resumable=resumable, evaluated=run.eval_report_file.is_file(),
        error=row.get("error"), output_dir=str(output) if output else None, pid=row.get("pid"), owner=row.get("owner"),
        created_at=row.get("created_at"), started_at=info.get("started_at"), finished_at=info.get("finished_at"),
    )


def _timing(metrics: list[dict], step: int, total: int | None) -> tuple[float | None, float | None]:
    """Elapsed training time from the last metrics line, and the ETA at the average pace so far."""
    if not metrics:
        return None, None
    first, last = metrics[0], metrics[-1]
    elapsed = last.get("elapsed")
    done = (last.get("step") or 0) - (first.get("step") or 0)
    span = (elapsed or 0) - (first.get("elapsed") or 0)
    if not total or done <= 0 or span <= 0:
        return elapsed, None
    return elapsed, round((total - step) * span / done, 1)


def status(run: str, owner: str | None = None) -> RunStatus:
    """The run's state now (by id or folder): a dead process shows as failed, resumable when it has a plan."""
    return to_status(refresh(find(run, owner=owner)))


def list_runs(owner: str | None = None) -> list[RunStatus]:
    """Every run in the registry (or one user's), queued ones included, newest first."""
    return [to_status(refresh(row)) for row in all_runs(owner=owner)]


def wait(run: str, timeout_s: float | None = None, poll_s: float = 0.5) -> RunStatus:
    """Block until the run is completed, failed or cancelled (or `timeout_s` passes) and return its status."""
    deadline = None if timeout_s is None else time.time() + timeout_s
    while True:
        current = status(run)
        if current.status in FINAL or (deadline is not None and time.time() > deadline):
            return current
        time.sleep(poll_s)
