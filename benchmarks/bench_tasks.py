"""Three small tasks run headless from their default plans, as a user of `finetune-assistant auto` runs them.

    .venv/bin/python benchmarks/bench_tasks.py                       # SmolLM2-135M (the embedded default)
    .venv/bin/python benchmarks/bench_tasks.py --only labels --max-rounds 1
    .venv/bin/python benchmarks/bench_tasks.py --model .cache/tests/tiny-llama --budget-min 5   # a dry run

- identity: the shipped `tools/demo/identity_ada.jsonl` (90 rows) -- a new name and maker;
- booking: `benchmarks/tasks/booking_json.jsonl` (96 rows) -- a fixed answer format (JSON with four fields);
- labels: `benchmarks/tasks/ticket_labels.jsonl` (100 rows) -- four ticket categories, the label only.

Each task is one subprocess `finetune-assistant auto --goal ... --data ... --yes --json` in a fresh data dir:
the checks come from the goal's words, the plan is the default one, rounds run until the checks are met or
the rounds/minutes run out. Printed per task and round: the checks, base vs tuned pass rate on the locked test
split, minutes estimated vs measured; the last line is every figure as JSON. The CPU may be shared: say so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TASKS = {
    "identity": ("When someone asks who it is, it says it is Ada from Lumen.", REPO / "tools/demo/identity_ada.jsonl"),
    "booking": ("Read a guest's booking message and answer with JSON only, with the fields name, party_size, day and "
                "time.", REPO / "benchmarks/tasks/booking_json.jsonl"),
    "labels": ("Sort each support ticket into billing, shipping, technical or account; reply with the category label "
               "only.", REPO / "benchmarks/tasks/ticket_labels.jsonl"),
}  # fmt: skip


def describe_check(check: dict) -> str:
    from tools.evaluate.checks import SuccessCriteria, describe

    return describe(SuccessCriteria(checks=[check]).checks[0])


def run_task(name: str, args: argparse.Namespace, work: Path) -> dict:
    goal, data = TASKS[name]
    out = work / name
    cmd = [sys.executable, "-m", "ui.cli", "auto", "--goal", goal, "--data", str(data), "--output", str(out),
           "--max-rounds", str(args.max_rounds), "--budget-min", str(args.budget_min), "--yes", "--json"]  # fmt: skip
    if args.model:
        cmd += ["--model", args.model]
    env = {**os.environ, "FINETUNE_ASSISTANT_HOME": str(work / f"home-{name}")}
    started = time.time()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = (time.time() - started) / 60
    (work / f"{name}.log").write_text(proc.stdout + proc.stderr)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"task": name, "error": f"exit {proc.returncode}; see {work / f'{name}.log'}", "wall_min": wall}
    result = json.loads(lines[-1])
    return {"task": name, "goal": goal, "wall_min": round(wall, 2), **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--model", default=None, help="Base model (default: the plan's, the embedded SmolLM2).")
    parser.add_argument("--max-rounds", type=int, default=2)
    parser.add_argument("--budget-min", type=float, default=30.0, help="Per task: no new round after this.")
    parser.add_argument("--keep", type=Path, default=None, help="Keep the run folders here.")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-tasks-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.only:
        result = run_task(name, args, work)
        results.append(result)
        if "error" in result:
            print(f"{name}: {result['error']}", flush=True)
            continue
        checks = "; ".join(describe_check(c) for c in result["checks"])
        print(f"{name}: met={result['met']} checks: {checks} ({result['wall_min']:.1f} min)")
        for i, r in enumerate(result["rounds"], 1):
            err = (r["estimated_minutes"] - r["minutes"]) / r["minutes"] if r["minutes"] else float("nan")
            print(f"  round {i}: base {r['base']['pass_rate']:.0%} -> tuned {r['tuned']['pass_rate']:.0%}; "
                  f"estimated {r['estimated_minutes']:.1f} min, measured {r['minutes']:.1f} min ({err:+.0%}); "
                  f"{'met' if r['met'] else 'not met'}{'; ' + r['diagnosis'] if r.get('diagnosis') else ''}", flush=True)
    print(json.dumps({"work": str(work), "tasks": results}))


if __name__ == "__main__":
    main()
