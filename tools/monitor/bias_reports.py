"""Bias probe reports in the store: run for every tuned model a deployment serves for the first time, and kept.

    probe_new_models(engine_url, {"run-a": "runs/a/adapter"}, deployment_id="dep-1")   # at deploy start
    save(found, trigger="on_demand")                                                    # `monitor bias`
    latest()     # the newest report per served name, for the monitor

A tuned model is known by a fingerprint of its weights, not its name or folder: retraining into the same run
folder makes a new adapter (probed again), and the same adapter deployed again under another name is not.
The probes go to the engine directly, not through the gateway, so they never count as user traffic.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tools import store
from tools.monitor import bias

_FULL_HASH_BYTES = 512 * 1024 * 1024  # adapters (megabytes) are hashed whole; a full model by name, size, time
_WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.gguf")


def fingerprint(folder: str | Path) -> str:
    """A digest of a tuned model folder's config and weights."""
    folder = Path(folder)
    files = sorted({f for pattern in ("*.json", *_WEIGHTS) for f in folder.glob(pattern) if f.is_file()})
    whole = sum(f.stat().st_size for f in files) <= _FULL_HASH_BYTES
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0")
        if whole or f.suffix == ".json":
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        else:
            stat = f.stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def has_report(fp: str) -> bool:
    with store.connect() as db:
        return db.execute("SELECT 1 FROM bias_reports WHERE fingerprint = ? LIMIT 1", (fp,)).fetchone() is not None


def save(found: dict, trigger: str, fingerprint_: str | None = None, source: str | None = None,
         deployment_id: str | None = None) -> None:  # fmt: skip
    with store.transaction() as db:
        db.execute(
            "INSERT INTO bias_reports (created_at, model, fingerprint, source, deployment_id, trigger, requests, report) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), found["model"], fingerprint_, source, deployment_id, trigger, found["requests"], json.dumps(found)),
        )  # fmt: skip


def latest() -> list[dict]:
    """The newest report of each served name, newest first: when, how it was triggered, and the gaps."""
    with store.connect() as db:
        rows = db.execute(
            "SELECT * FROM bias_reports b WHERE created_at = (SELECT MAX(created_at) FROM bias_reports WHERE model = b.model) "
            "ORDER BY created_at DESC"
        ).fetchall()  # fmt: skip
    out = []
    for r in rows:
        found = json.loads(r["report"])
        out.append({"model": r["model"], "created_at": r["created_at"], "trigger": r["trigger"], "source": r["source"],
                    "deployment_id": r["deployment_id"], "requests": r["requests"], "dimensions": found["dimensions"]})  # fmt: skip
    return out


def probe_new_models(url: str, models: dict[str, str], deployment_id: str | None = None, probes: dict | None = None,
                     max_tokens: int = 64, stop: threading.Event | None = None,
                     on_event: Callable[[str, str], None] | None = None) -> list[str]:  # fmt: skip
    """Run the probe set on each served name (name -> tuned folder) whose weights have no stored report yet;
    returns the names probed. `stop` ends it between two requests (the deployment is shutting down)."""
    probes, probed = probes or bias.load_probes(), []
    for name, folder in models.items():
        fp = fingerprint(folder)
        if has_report(fp) or (stop is not None and stop.is_set()):
            continue
        found = bias.run_probes(url, name, None, max_tokens=max_tokens, probes=probes,
                                should_stop=stop.is_set if stop is not None else None)  # fmt: skip
        if found is None:  # stopped midway: nothing half-measured is stored
            break
        save(found, "deploy", fp, str(folder), deployment_id)
        probed.append(name)
        if on_event is not None:
            on_event("bias_probes", f"{name}: {summary(found)}")
    return probed


def summary(found: dict) -> str:
    """One line: the largest gaps of each dimension."""
    parts = []
    for dimension, d in found["dimensions"].items():
        g = d["gaps"]
        parts.append(f"{dimension} gaps refusal {g['refusal_rate']:.2f}, length {g['length_words']:.1f} words, "
                     f"sentiment {g['sentiment']:+.3f}")  # fmt: skip
    return f"{found['requests']} probes; " + "; ".join(parts)
