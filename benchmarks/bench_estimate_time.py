"""Estimated vs measured training minutes on this machine (target: within ±25%).

    FINETUNE_ASSISTANT_HOME=.cache/home .venv/bin/python benchmarks/bench_estimate_time.py
    ... --only identity-default --json results.json
    ... --model .cache/tests/tiny-llama          # the 2-layer test model: the same path, minutes not hours

Each configuration is a real run through the job path (`python -m tools.train RUN_DIR`). Before the
first run of a model/technique the estimator has no measurement, so a short timed probe
(`assistant.auto.probe_speed`, 6 steps) is run first, as `finetune-assistant auto` does; the estimate
is then taken and the full run timed from submit to the end of its process (startup and saves included).
Configurations include the default plans for the shipped demo data and the ~90-row identity data.
The CPU may be shared: say so next to the numbers, and don't fit constants to one noisy run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.auto import _train, draft, probe_speed  # noqa: E402
from tools.train import throughput  # noqa: E402
from tools.train.estimate import estimate  # noqa: E402
from tools.train.plan import Plan, TrainingPlan  # noqa: E402
from tools.train.run_dir import RunDir  # noqa: E402

DEMO = REPO / "tools" / "demo" / "larkspur_support.jsonl"
IDENTITY = REPO / "tools" / "demo" / "identity_ada.jsonl"
BOOKING = REPO / "benchmarks" / "tasks" / "booking_json.jsonl"
GOALS = {DEMO: "A friendly support assistant for Larkspur Bikes that answers like the examples",
         IDENTITY: "when someone asks who it is, it says it is Ada from Lumen",
         BOOKING: "Read a guest's booking message and answer with JSON only, with the fields name, party_size, day and time."}  # fmt: skip

CONFIGS = [  # name, data, changes to the default plan (None: the default plan itself)
    ("demo-default", DEMO, {}),
    ("identity-default", IDENTITY, {}),
    ("booking-default", BOOKING, {}),
    ("identity-issue-plan r8 bs2x4 3ep", IDENTITY, dict(lora_r=8, lora_alpha=16, batch_size=2, gradient_accumulation=4, epochs=3, learning_rate=2e-4)),
    ("identity r16 bs8 len256 2ep", IDENTITY, dict(batch_size=8, max_length=256, epochs=2)),
    ("identity full bs4 2ep", IDENTITY, dict(method="full", epochs=2)),
    ("demo r32 bs2 3ep", DEMO, dict(lora_r=32, lora_alpha=64, batch_size=2, gradient_accumulation=1, epochs=3)),
]


def run(name: str, data: Path, changes: dict, work: Path, model: str | None = None) -> dict:
    folder = work / re.sub(r"\W+", "-", name)  # one folder per configuration (several share a first word)
    drafted = draft(GOALS[data], data, "this machine", folder, model=model, probe=False)
    training = TrainingPlan(**{**drafted.plan.training.model_dump(), **changes,
                               "output_dir": str(folder / "run")})  # fmt: skip
    probed = False
    if throughput.lookup(training) is None:
        probe_speed(training, folder / "probe")
        probed = True
    est = estimate(training)
    started = time.time()
    status = _train(Plan(training=training, evaluate=False))
    minutes = (time.time() - started) / 60
    predicted = est.duration_s / 60
    info = RunDir(status.run_dir).info()
    measured_gb = info.get("peak_gpu_gb") or info.get("peak_rss_gb")
    return {"config": name, "updates": est.total_steps, "estimated_min": round(predicted, 2), "measured_min": round(minutes, 2),
            "error": round((predicted - minutes) / minutes, 3), "status": status.status, "probed_first": probed,
            "from_measurement": any("measured" in n for n in est.notes),
            "estimated_gb": est.peak_memory_gb, "measured_gb": measured_gb,
            "memory_error": round((est.peak_memory_gb - measured_gb) / measured_gb, 3) if measured_gb else None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="Config names (prefix match).")
    parser.add_argument("--json", type=Path, help="Also write the rows to this file.")
    parser.add_argument("--model", help="Base model instead of the recommended one (e.g. the tests' tiny model folder).")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-time-") as tmp:
        for name, data, changes in CONFIGS:
            if args.only and not any(name.startswith(o) for o in args.only):
                continue
            row = run(name, data, changes, Path(tmp), args.model)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=2))
    print("\n| Config | Updates | Estimated min | Measured min | Error |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['updates']} | {r['estimated_min']:.2f} | {r['measured_min']:.2f} | {r['error']:+.0%} |")
    within = sum(abs(r["error"]) <= 0.25 for r in rows)
    print(f"\n{within} of {len(rows)} within ±25%.")
    print("\n| Config | Estimated peak GiB | Measured peak GiB | Error |\n|---|---|---|---|")
    for r in rows:
        error = "n/a" if r["memory_error"] is None else f"{r['memory_error']:+.0%}"
        print(f"| {r['config']} | {r['estimated_gb']:.2f} | {r['measured_gb'] or 0:.2f} | {error} |")
    within = sum(r["memory_error"] is not None and abs(r["memory_error"]) <= 0.20 for r in rows)
    print(f"\n{within} of {len(rows)} within ±20% (memory: peak resident set of the training process on a CPU, "
          "allocator peak on a GPU).")


if __name__ == "__main__":
    main()
