"""The app's one SQLite store: `<data dir>/app.db`, opened here and nowhere else.

    from tools import store
    with store.connect() as db:
        db.execute("SELECT * FROM runs").fetchall()

Every connection gets the same policy: WAL (the trainer writes progress while the app reads), a busy
timeout (two processes writing at once wait rather than fail), rows as `sqlite3.Row`, and the schema
migrated to the newest version before first use. Migrations are numbered functions applied in order and
recorded in `PRAGMA user_version`, as simonw/llm does: a new table or column is a new function at the end
of `MIGRATIONS`, never an edit of an old one, so a data dir from any earlier release upgrades in place.

The conversation checkpoints (`conversations.db`) belong to LangGraph's saver and stay in their own file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tools import paths

BUSY_TIMEOUT_S = 30.0


def _m001_runs(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS runs (
            run_id TEXT PRIMARY KEY, name TEXT, run_dir TEXT NOT NULL, status TEXT NOT NULL,
            pid INTEGER, pid_start TEXT, base_model TEXT, objective TEXT, method TEXT,
            step INTEGER DEFAULT 0, total_steps INTEGER, loss REAL, eval_loss REAL, error TEXT,
            created_at REAL NOT NULL, updated_at REAL NOT NULL)"""
    )


def _m002_queue(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS queue_plans (run_id TEXT PRIMARY KEY, plan_json TEXT NOT NULL)")


def _m003_votes(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS votes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            comparison_id TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            prompt TEXT NOT NULL,
            messages TEXT NOT NULL,
            answer_a TEXT NOT NULL,
            answer_b TEXT NOT NULL,
            model_a TEXT NOT NULL,
            model_b TEXT NOT NULL,
            base_model TEXT NOT NULL,
            tuned_model TEXT NOT NULL,
            choice TEXT NOT NULL CHECK (choice IN ('A', 'B', 'tie', 'both_bad')),
            blind INTEGER NOT NULL,
            settings TEXT NOT NULL)"""
    )


def _m004_rounds(db: sqlite3.Connection) -> None:
    # Rounds of one goal (`finetune-assistant auto`): each round is a run, linked to its parent.
    db.execute(
        """CREATE TABLE IF NOT EXISTS rounds (
            run_id TEXT PRIMARY KEY, loop_id TEXT NOT NULL, round INTEGER NOT NULL, parent_run_id TEXT,
            met INTEGER, validation_pass_rate REAL, test_pass_rate REAL, diagnosis TEXT, created_at REAL NOT NULL)"""
    )


def _m005_deploy(db: sqlite3.Connection) -> None:
    """Deployments, their API keys, every request through the gateway and the users' ratings of the answers."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS deployments (
            deployment_id TEXT PRIMARY KEY, created_at REAL NOT NULL, base TEXT NOT NULL, runs TEXT NOT NULL,
            engine TEXT, url TEXT, status TEXT NOT NULL, split TEXT, updated_at REAL NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS deploy_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, deployment_id TEXT NOT NULL, at REAL NOT NULL,
            kind TEXT NOT NULL, message TEXT NOT NULL)"""
    )
    # Only a salted hash of each key is kept; the key itself is shown once, when it is created.
    db.execute(
        """CREATE TABLE IF NOT EXISTS api_keys (
            key_id TEXT PRIMARY KEY, name TEXT NOT NULL, salt TEXT NOT NULL, hash TEXT NOT NULL,
            rate_per_min REAL, created_at REAL NOT NULL, revoked_at REAL)"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS traffic (
            id INTEGER PRIMARY KEY AUTOINCREMENT, completion_id TEXT NOT NULL UNIQUE, upstream_id TEXT,
            deployment_id TEXT, created_at REAL NOT NULL, key_name TEXT, requested_model TEXT, model TEXT,
            route TEXT, prompt TEXT, messages TEXT, answer TEXT, finish_reason TEXT, max_tokens INTEGER,
            prompt_tokens INTEGER, completion_tokens INTEGER, latency_ms REAL, ttft_ms REAL,
            status INTEGER NOT NULL, error TEXT, stream INTEGER NOT NULL DEFAULT 0,
            redacted INTEGER NOT NULL DEFAULT 1, reask_of TEXT)"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS traffic_time ON traffic (created_at)")
    db.execute("CREATE INDEX IF NOT EXISTS traffic_upstream ON traffic (upstream_id)")
    # One rating per completion: a second vote replaces the first (a user changing their mind).
    db.execute(
        """CREATE TABLE IF NOT EXISTS feedback (
            completion_id TEXT PRIMARY KEY, created_at REAL NOT NULL, key_name TEXT,
            rating TEXT NOT NULL CHECK (rating IN ('up', 'down')), comment TEXT, correction TEXT)"""
    )


def _m006_owners(db: sqlite3.Connection) -> None:
    """Whose run or vote a row is when the app has logins (M2); NULL for a single user (no login, the CLI)."""
    for table in ("runs", "votes"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN owner TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS runs_owner ON runs (owner)")


def _m007_gpu_holds(db: sqlite3.Connection) -> None:
    """GPU memory that a process's serving engines hold (H5): a queued run is started by that process only,
    after it made room, whichever process would otherwise start it (a finished job hands over to the next)."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS gpu_holds (
            pid INTEGER PRIMARY KEY, pid_start TEXT, gb REAL NOT NULL, updated_at REAL NOT NULL)"""
    )


def _m008_bias_reports(db: sqlite3.Connection) -> None:
    """Counterfactual bias probe reports: one per tuned model's weights (the fingerprint), run when a deployment
    first serves it, and any run on demand (`monitor bias`)."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS bias_reports (
            id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, model TEXT NOT NULL,
            fingerprint TEXT, source TEXT, deployment_id TEXT,
            trigger TEXT NOT NULL CHECK (trigger IN ('deploy', 'on_demand')), requests INTEGER NOT NULL,
            report TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS bias_reports_fingerprint ON bias_reports (fingerprint)")


# Append only: the position of a migration is its version number.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m001_runs, _m002_queue, _m003_votes, _m004_rounds,
                                                        _m005_deploy, _m006_owners, _m007_gpu_holds,
                                                        _m008_bias_reports]

_migrated: set[str] = set()
_migrate_lock = threading.Lock()


def schema_version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations this database has not seen yet, each in its own transaction; returns the version."""
    # BEGIN IMMEDIATE takes the write lock first, so two processes starting at once migrate one after the other.
    db.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(db)
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            step(db)
            db.execute(f"PRAGMA user_version = {number}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return schema_version(db)


def open_db(path: str | Path | None = None) -> sqlite3.Connection:
    """A new connection with the store's policy, migrated. The caller closes it (or use `connect`)."""
    target = Path(path) if path else paths.db_path()
    # isolation_level=None: transactions are explicit (`with transaction(db)`), never opened behind our back.
    db = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    key = str(target.resolve())
    if key not in _migrated:
        with _migrate_lock:
            migrate(db)
            _migrated.add(key)
    return db


@contextmanager
def connect(path: str | Path | None = None) -> Iterator[sqlite3.Connection]:
    """A short-lived connection: one per unit of work, closed on exit (threads and processes never share one)."""
    db = open_db(path)
    try:
        yield db
    finally:
        db.close()


@contextmanager
def transaction(path: str | Path | None = None, immediate: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection inside one transaction: committed on success, rolled back on an exception.

    `immediate=True` takes the write lock at the start (BEGIN IMMEDIATE): the way to read-then-write
    without another process slipping in between, e.g. "is the machine free? then start this run".
    """
    with connect(path) as db:
        db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
