"""The runs registry: one row per training run in the SQLite table `runs` of the app's data dir.

Both the app and the training process write here (SQLite handles the two writers). A row that says
"running" is only believed while its process is alive: `refresh()` checks the PID (and its start time,
so a reused PID does not count), and a run whose process died becomes failed and resumable.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from tools import paths

ACTIVE = ("starting", "running", "cancelling")
COLUMNS = ("run_id", "name", "run_dir", "status", "pid", "pid_start", "base_model", "objective", "method",
           "step", "total_steps", "loss", "eval_loss", "error", "created_at", "updated_at")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, name TEXT, run_dir TEXT NOT NULL, status TEXT NOT NULL,
    pid INTEGER, pid_start TEXT, base_model TEXT, objective TEXT, method TEXT,
    step INTEGER DEFAULT 0, total_steps INTEGER, loss REAL, eval_loss REAL, error TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
)"""


def _connect() -> sqlite3.Connection:
    conn = sqlite3.connect(paths.db_path(), timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")  # the trainer writes progress while the UI reads
    conn.execute(_SCHEMA)
    return conn


def upsert(run_id: str, **fields: Any) -> None:
    """Insert the run or update the given fields (unknown names are a programming error)."""
    bad = set(fields) - set(COLUMNS)
    if bad:
        raise KeyError(f"unknown runs columns: {sorted(bad)}")
    now = time.time()
    with closing(_connect()) as conn, conn:
        exists = conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if exists:
            if fields:
                sets = ", ".join(f"{k} = ?" for k in fields)
                conn.execute(f"UPDATE runs SET {sets}, updated_at = ? WHERE run_id = ?", (*fields.values(), now, run_id))
            return
        row = {"run_dir": "", "status": "starting", **fields, "run_id": run_id, "created_at": now, "updated_at": now}
        cols = ", ".join(row)
        conn.execute(f"INSERT INTO runs ({cols}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))


def get(run_id: str) -> dict | None:
    with closing(_connect()) as conn:
        row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return dict(row) if row else None


def all_runs() -> list[dict]:
    with closing(_connect()) as conn:
        rows = conn.execute("SELECT * FROM runs ORDER BY created_at DESC").fetchall()
    return [dict(r) for r in rows]


def find_by_dir(run_dir: str | Path) -> dict | None:
    target = str(Path(run_dir).expanduser().resolve())
    with closing(_connect()) as conn:
        row = conn.execute("SELECT * FROM runs WHERE run_dir = ?", (target,)).fetchone()
    return dict(row) if row else None


def refresh(row: dict) -> dict:
    """Reconcile an active row with reality: a dead process means the run failed (and can resume)."""
    if row["status"] not in ACTIVE or process_alive(row.get("pid"), row.get("pid_start")):
        return row
    if row["status"] == "starting" and row.get("pid") is None and time.time() - row["created_at"] < 30:
        return row  # launch() is between inserting the row and starting the process
    final = _final_status_from_folder(row["run_dir"])
    if final is None:
        final = {"status": "failed", "error": _last_error(row["run_dir"]) or "the training process stopped unexpectedly"}
    upsert(row["run_id"], **final)
    return {**row, **final}


def _final_status_from_folder(run_dir: str) -> dict | None:
    """The status the runner wrote to run.json before exiting, if it got that far."""
    try:
        info = json.loads((Path(run_dir) / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if info.get("status") in ("completed", "cancelled", "failed"):
        return {"status": info["status"], "error": info.get("error")}
    return None


def _last_error(run_dir: str) -> str | None:
    """The last line of the log that looks like an error (a Python exception or an OOM kill)."""
    log = Path(run_dir) / "stdout.log"
    if not log.is_file():
        return None
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[-200:]
    for line in reversed(lines):
        if "Error" in line or "error:" in line or "Killed" in line:
            return line.strip()[:500]
    return None


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/PID/stat), None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # exited but not yet reaped by its parent
        return None
    return fields[19]


def process_alive(pid: int | None, start: str | None) -> bool:
    if not pid:
        return False
    if Path("/proc").is_dir():
        now = process_start_time(pid)
        return now is not None and (start is None or now == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
