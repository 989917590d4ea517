"""Everything the monitor shows, in one JSON-able dict: the figures `monitor --json` prints and the tab plots.

    report = build_report(since=time.time() - 3600)
    report["requests"], report["p95_ms"], report["by_model"]["run-a"], report["drift"]["score"]
"""

from __future__ import annotations

import json
from pathlib import Path

from tools import store
from tools.monitor import bias_reports, canary, drift, flags, hallucination, stats, traffic


def train_files(deployment_ids: set[str]) -> list[str]:
    """The prepared train.jsonl of every run in these deployments (from plan.yaml, recorded at deploy time)."""
    if not deployment_ids:
        return []
    with store.connect() as db:
        found = db.execute(f"SELECT runs FROM deployments WHERE deployment_id IN ({','.join('?' * len(deployment_ids))})",
                           tuple(deployment_ids)).fetchall()  # fmt: skip
    files = {info.get("train_data") for row in found for info in json.loads(row["runs"]).values()}
    return sorted(f for f in files if f and Path(f).is_file())


def build_report(since: float | None = None, deployment_id: str | None = None, train: list[str] | None = None,
                 timeline: bool = True) -> dict:  # fmt: skip
    rows = traffic.rows(since, deployment_id)
    files = train if train is not None else train_files({r["deployment_id"] for r in rows if r["deployment_id"]})
    pairs = drift.training_rows(files)
    answered = [r for r in rows if r["status"] == 200]
    report = {
        "since": since,
        **stats.summary(rows),
        "drift": {**drift.drift([r["prompt"] or "" for r in answered], pairs), "training_files": files},
        "flags": flags.flagged(rows),
        "canaries": canary.canaries(rows),
        "hallucination": hallucination.signals(answered, traffic.rows(since, deployment_id, reasks=True), pairs),
        # Probes are run once per tuned model's weights, not per window: the latest report of each, whenever.
        "bias": bias_reports.latest(),
    }
    if timeline:
        report["timeline"] = stats.timeline(rows)
    return report
