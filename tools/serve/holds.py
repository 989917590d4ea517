"""GPU memory held by a process's serving engines, recorded in the store for every process that starts runs (H5).

    holds.record(36.0)       # this process's engines now reserve 36 GB of the GPU
    holds.release()          # they reserve none any more
    holds.holders()          # [{"pid": ..., "gb": ...}] of live processes; rows of dead ones are dropped

The app's comparison engine (a vLLM server on a GPU) belongs to the app's process, but a queued run may be
started by another process: the job that just finished hands the machine over, and `finetune-assistant
train` submits from a terminal. Neither can shrink or stop the app's engine, so while a live process holds
GPU memory, `tools.train.jobs.start_next` leaves queued runs to that process, which starts them once it
has made room (`tools.serve.shared.SharedBackends.before_run_starts`, called by the app's queue worker).
"""

from __future__ import annotations

import os
import sqlite3
import time

from tools import store
from tools.procs import process_alive, process_start_time


def record(gb: float, db: sqlite3.Connection | None = None) -> None:
    """Say that this process's engines hold `gb` of GPU memory (0 or less releases the hold)."""
    if gb <= 0:
        release(db)
        return
    pid = os.getpid()
    with _db(db) as conn:
        conn.execute("INSERT INTO gpu_holds (pid, pid_start, gb, updated_at) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT(pid) DO UPDATE SET pid_start = excluded.pid_start, gb = excluded.gb, "
                     "updated_at = excluded.updated_at", (pid, process_start_time(pid), float(gb), time.time()))


def release(db: sqlite3.Connection | None = None) -> None:
    with _db(db) as conn:
        conn.execute("DELETE FROM gpu_holds WHERE pid = ?", (os.getpid(),))


def holders(db: sqlite3.Connection | None = None) -> list[dict]:
    """Holds of processes that are alive; a dead process's hold (its engines died with it) is deleted."""
    with _db(db) as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM gpu_holds ORDER BY pid").fetchall()]
        dead = [r["pid"] for r in rows if not process_alive(r["pid"], r["pid_start"])]
        if dead:
            conn.execute(f"DELETE FROM gpu_holds WHERE pid IN ({', '.join('?' * len(dead))})", dead)
    return [r for r in rows if r["pid"] not in dead]


class _db:
    """The caller's connection (inside its transaction) or a short-lived one of our own."""

    def __init__(self, db: sqlite3.Connection | None):
        self.db, self.own = db, None

    def __enter__(self) -> sqlite3.Connection:
        if self.db is not None:
            return self.db
        self.own = store.open_db()
        return self.own

    def __exit__(self, *exc) -> None:
        if self.own is not None:
            self.own.close()
