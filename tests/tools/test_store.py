"""The one SQLite store: migrations from any earlier release, atomic upserts, and progress that never kills a run."""

import sqlite3
import subprocess
import sys
import time

from tools import paths, store
from tools.train import runs

# The tables as the previous release made them (three `CREATE TABLE IF NOT EXISTS`, no user_version).
OLD_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, name TEXT, run_dir TEXT NOT NULL, status TEXT NOT NULL,
    pid INTEGER, pid_start TEXT, base_model TEXT, objective TEXT, method TEXT,
    step INTEGER DEFAULT 0, total_steps INTEGER, loss REAL, eval_loss REAL, error TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS queue_plans (run_id TEXT PRIMARY KEY, plan_json TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, comparison_id TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,
    prompt TEXT NOT NULL, messages TEXT NOT NULL, answer_a TEXT NOT NULL, answer_b TEXT NOT NULL,
    model_a TEXT NOT NULL, model_b TEXT NOT NULL, base_model TEXT NOT NULL, tuned_model TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('A', 'B', 'tie', 'both_bad')), blind INTEGER NOT NULL,
    settings TEXT NOT NULL)""",
]


def test_a_fresh_database_migrates_to_the_latest_version(tmp_path):
    with store.connect(tmp_path / "fresh.db") as db:
        assert store.schema_version(db) == len(store.MIGRATIONS)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"runs", "queue_plans", "votes"} <= tables
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_database_of_the_previous_release_upgrades_in_place_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    for sql in OLD_SCHEMA:
        old.execute(sql)
    old.execute("INSERT INTO runs (run_id, run_dir, status, created_at, updated_at) VALUES ('r1', '/x', 'completed', 1, 1)")
    old.execute("INSERT INTO queue_plans VALUES ('r2', '{}')")
    old.commit()
    assert old.execute("PRAGMA user_version").fetchone()[0] == 0
    old.close()
    with store.connect(path) as db:
        assert store.schema_version(db) == len(store.MIGRATIONS)
        assert dict(db.execute("SELECT run_id, status FROM runs").fetchone()) == {"run_id": "r1", "status": "completed"}
        assert db.execute("SELECT run_id FROM queue_plans").fetchone()[0] == "r2"


def test_upsert_inserts_then_updates_only_the_given_fields():
    runs.upsert("r", run_dir="/runs/r", status="queued", name="first")
    created = runs.get("r")["created_at"]
    runs.upsert("r", status="running", step=3)
    row = runs.get("r")
    assert (row["status"], row["step"], row["name"], row["run_dir"], row["created_at"]) == \
        ("running", 3, "first", "/runs/r", created)


def test_progress_mirroring_survives_a_locked_database(monkeypatch):
    """L5: a write lock held past the busy timeout must not crash the trainer's callbacks."""
    runs.upsert("r", run_dir="/runs/r", status="running")
    monkeypatch.setattr(store, "BUSY_TIMEOUT_S", 0.2)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(3)"), str(paths.db_path())],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.time()
        assert runs.try_upsert("r", step=5) is False
        assert time.time() - started < 2.5
    finally:
        holder.wait()
    assert runs.try_upsert("r", step=6) is True and runs.get("r")["step"] == 6
