"""Traffic figures from the request log: requests, errors, latency percentiles, tokens/s and feedback, overall,
per model (the name that answered: base or an adapter) and over time.

Percentiles are numpy's default (linear interpolation between the two nearest ranks), over requests that got
an answer (status 200): a 401 answered in a millisecond would otherwise pull p50 down. `tokens_per_s` is
generated tokens over the time spent generating them (sum of completion tokens / sum of latencies).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def figures(rows: list[dict]) -> dict:
    """The headline numbers of a set of traffic rows."""
    ok = [r for r in rows if r["status"] == 200]
    latencies = [r["latency_ms"] for r in ok]
    tokens = sum(r["completion_tokens"] or 0 for r in ok)
    seconds = sum(latencies) / 1000
    return {
        "requests": len(rows),
        "errors": sum(r["status"] != 200 for r in rows),
        "p50_ms": _percentile(latencies, 50),
        "p95_ms": _percentile(latencies, 95),
        "tokens_per_s": round(tokens / seconds, 2) if seconds else None,
        "completion_tokens": tokens,
        "up": sum(r["rating"] == "up" for r in rows),
        "down": sum(r["rating"] == "down" for r in rows),
    }


def summary(rows: list[dict]) -> dict:
    """Overall figures, `feedback` {up, down}, `by_model` {name: figures} (requests that reached a model)."""
    total = figures(rows)
    by_model: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["model"]:  # refused requests (401, 429, unknown model) reached no model; they count in the totals
            by_model[r["model"]].append(r)
    return {
        **{k: total[k] for k in ("requests", "errors", "p50_ms", "p95_ms", "tokens_per_s", "completion_tokens")},
        "feedback": {"up": total["up"], "down": total["down"]},
        "by_model": {name: figures(group) for name, group in sorted(by_model.items())},
    }


def bucket_seconds(span_s: float, buckets: int = 20) -> int:
    """A round bucket size giving at most about `buckets` points over `span_s`."""
    for size in (10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 86400):
        if span_s / size <= buckets:
            return size
    return 86400 * math.ceil(span_s / 86400 / buckets)


def timeline(rows: list[dict], size_s: int | None = None) -> list[dict]:
    """Figures per time bucket and model: [{"t": bucket start (epoch s), "model", requests, errors, p50_ms...}]."""
    if not rows:
        return []
    size = size_s or bucket_seconds(rows[-1]["created_at"] - rows[0]["created_at"])
    groups: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for r in rows:
        if r["model"]:
            groups[(int(r["created_at"] // size * size), r["model"])].append(r)
    return [{"t": t, "model": model, **figures(group)} for (t, model), group in sorted(groups.items())]
