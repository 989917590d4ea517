"""How much conversation history is kept (security review M4: `conversations.db` grew without end).

LangGraph's SQLite saver appends a checkpoint of the whole conversation state at every graph step and never
prunes, so a thread's history grows with the square of its length and idle threads stay forever. Only the
latest checkpoint of a thread (and the writes pending on it, such as a plan waiting for approval) is needed to
continue it; the app shows no older state. So:

- each thread keeps its last `KEEP_CHECKPOINTS` checkpoints (pruned after every turn of that thread);
- a thread idle for more than `FINETUNE_ASSISTANT_KEEP_CONVERSATIONS_DAYS` days (default 180; 0 keeps them all)
  is deleted when the assistant starts. Its runs, votes and exports are in the store and stay.

Checkpoint ids are UUIDv6, so their order is their time and their timestamp says when the thread last moved.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

KEEP_CHECKPOINTS = 8
_DAYS_ENV = "FINETUNE_ASSISTANT_KEEP_CONVERSATIONS_DAYS"
_GREGORIAN_TO_UNIX_S = 12_219_292_800  # seconds from 1582-10-15 (UUID time zero) to 1970-01-01


def keep_days() -> float:
    value = os.environ.get(_DAYS_ENV, "180").strip()
    try:
        days = float(value)
    except ValueError:
        raise ValueError(f"{_DAYS_ENV}={value!r} is not a number of days; use e.g. 90, or 0 to keep every conversation") from None
    return max(0.0, days)


def checkpoint_time(checkpoint_id: str) -> float | None:
    """Unix seconds at which a UUIDv6 checkpoint id was made (None for another kind of id)."""
    try:
        u = uuid.UUID(checkpoint_id)
    except ValueError:
        return None
    if u.version != 6:
        return None
    ticks = ((u.int >> 64) >> 16 << 12) | ((u.int >> 64) & 0x0FFF)  # time_high+mid (48 bits), then time_low (12)
    return ticks / 1e7 - _GREGORIAN_TO_UNIX_S


def prune_thread(saver: Any, thread_id: str, keep: int = KEEP_CHECKPOINTS) -> int:
    """Drop all but the last `keep` checkpoints of one thread (and the writes of dropped ones). Returns how many."""
    return _prune(saver, keep, thread_id)


def prune_all(saver: Any, keep: int = KEEP_CHECKPOINTS, idle_days: float | None = None,
              now: float | None = None) -> dict[str, int]:  # fmt: skip
    """Start-of-app retention: delete threads idle longer than `idle_days` (default: from the environment),
    then keep the last `keep` checkpoints of every other thread."""
    idle_days = keep_days() if idle_days is None else idle_days
    now = time.time() if now is None else now
    removed_threads = 0
    if idle_days > 0:
        with saver.cursor() as cur:
            latest = cur.execute("SELECT thread_id, MAX(checkpoint_id) FROM checkpoints GROUP BY thread_id").fetchall()
        for thread_id, checkpoint_id in latest:
            made = checkpoint_time(checkpoint_id)
            if made is not None and now - made > idle_days * 86_400:
                saver.delete_thread(thread_id)
                removed_threads += 1
    return {"threads": removed_threads, "checkpoints": _prune(saver, keep, None)}


def _prune(saver: Any, keep: int, thread_id: str | None) -> int:
    where, args = ("WHERE thread_id = ?", (thread_id,)) if thread_id is not None else ("", ())
    with saver.cursor() as cur:
        cur.execute(
            f"""DELETE FROM checkpoints WHERE (thread_id, checkpoint_ns, checkpoint_id) IN (
                  SELECT thread_id, checkpoint_ns, checkpoint_id FROM (
                    SELECT thread_id, checkpoint_ns, checkpoint_id, ROW_NUMBER() OVER (
                      PARTITION BY thread_id, checkpoint_ns ORDER BY checkpoint_id DESC) AS newest
                    FROM checkpoints {where}) WHERE newest > ?)""",
            (*args, keep),
        )
        removed = cur.rowcount
        if removed:
            cur.execute(
                f"""DELETE FROM writes {where + ' AND' if where else 'WHERE'} NOT EXISTS (
                      SELECT 1 FROM checkpoints c WHERE c.thread_id = writes.thread_id
                      AND c.checkpoint_ns = writes.checkpoint_ns AND c.checkpoint_id = writes.checkpoint_id)""",
                args,
            )
    return removed
