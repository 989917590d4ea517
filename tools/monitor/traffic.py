"""Reading the request log: the rows of a time window, with their feedback, and `--since` parsing.

Re-asks (requests the gateway sent itself, `reask_of` set) are never counted as traffic; the hallucination
signals read them separately.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from tools import store

_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """`30m`, `2h`, `7d`, an ISO date/time (UTC unless it says otherwise) or epoch seconds -> epoch seconds."""
    if not text:
        return None
    text, now = text.strip(), time.time() if now is None else now
    match = _AGO.match(text)
    if match:
        return now - float(match[1]) * _UNIT_S[match[2]]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since '{text}' must be a duration (30m, 2h, 7d), an ISO time (2026-11-30T08:00) "
                         "or epoch seconds") from None  # fmt: skip
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def rows(since: float | None = None, deployment_id: str | None = None, reasks: bool = False) -> list[dict]:
    """Traffic rows (oldest first) with `rating`, `comment` and `correction` from the feedback table."""
    where, args = ["t.reask_of IS NOT NULL" if reasks else "t.reask_of IS NULL"], []
    if since is not None:
        where.append("t.created_at >= ?")
        args.append(since)
    if deployment_id:
        where.append("t.deployment_id = ?")
        args.append(deployment_id)
    query = (f"SELECT t.*, f.rating, f.comment, f.correction FROM traffic t "
             f"LEFT JOIN feedback f ON f.completion_id = t.completion_id WHERE {' AND '.join(where)} ORDER BY t.created_at")  # fmt: skip
    with store.connect() as db:
        return [dict(r) for r in db.execute(query, args).fetchall()]
