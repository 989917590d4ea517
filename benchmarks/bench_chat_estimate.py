"""The time on the chat's first plan card vs the measured training time, on a machine new to the app.

    .venv/bin/python benchmarks/bench_chat_estimate.py [--only identity] [--json out.json]

For each task: a fresh data dir (no measured speed yet), the offline interviewer, the goal and the data
file attached, "just recommend", then **approve**. The estimate is the one the plan card showed, taken
before anything trained except the chat's own timing probe (`assistant.speed`). The measured time is the
training process's from its start to its saved adapter (`started_at` → `trained_at` in run.json): the
part the estimate covers; the evaluation after it is stopped, it is not what is estimated here.
The baseline printed beside it is what the card said before this change: the FLOPs guess of this CPU's
speed for rows that fill max_length (the same plan, estimated in the same run). The CPU may be shared:
say so next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TASKS = {  # name: (data file, the user's words)
    "identity": (REPO / "tools" / "demo" / "identity_ada.jsonl",
                 "Teach it its new identity: when someone asks who it is, it says it is Ada from Lumen. This laptop, CPU only."),
    "booking": (REPO / "benchmarks" / "tasks" / "booking_json.jsonl",
                "Read a guest's booking message and answer with JSON only, with the fields name, party_size, day "
                "and time. I'm on this laptop, CPU only."),
    "demo": (REPO / "tools" / "demo" / "larkspur_support.jsonl",
             "A friendly support assistant for Larkspur Bikes that answers like the examples. This laptop, CPU only."),
}  # fmt: skip


def run(name: str, data: Path, goal: str, models: Path) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"bench-chat-{name}-"))
    (home / "models").symlink_to(models)  # the converted default model is shared; nothing else is
    os.environ["FINETUNE_ASSISTANT_HOME"] = str(home)
    from assistant import Assistant
    from tools.train import jobs
    from tools.train.estimate import DataSample, estimate
    from tools.train.hardware import Hardware
    from tools.train.plan import TrainingPlan
    from tools.train.run_dir import RunDir

    bot = Assistant(llm=None)
    started = time.time()
    turn = bot.send(name, goal, files=[str(data)])
    if not turn.awaiting_approval:
        turn = bot.send(name, "just recommend")
    assert turn.awaiting_approval, turn.reply
    chat_s = time.time() - started
    est = turn.proposal["estimate"]
    training = TrainingPlan.model_validate(turn.plan["training"])
    rows = max(1, round(est["total_steps"] * training.batch_size * training.gradient_accumulation / training.epochs))
    os.environ["FINETUNE_ASSISTANT_HOME"] = tempfile.mkdtemp()  # no measured speed there: the FLOPs guess
    old = estimate(training.model_copy(update={"data_dir": "<none>"}), Hardware.detect(),
                   DataSample(rows=rows, mean_tokens=training.max_length, longest_tokens=training.max_length))
    os.environ["FINETUNE_ASSISTANT_HOME"] = str(home)
    turn = bot.approve(name)
    assert turn.run_id, turn.reply
    run_dir = RunDir(jobs.status(turn.run_id).run_dir)
    while "trained_at" not in run_dir.info():
        current = jobs.status(turn.run_id)
        assert current.active or current.status == "queued", run_dir.log_tail(30)
        time.sleep(2)
    info = run_dir.info()
    pid = jobs.status(turn.run_id).pid
    if pid:  # the evaluation that follows is not what the card estimated
        os.killpg(pid, signal.SIGKILL)
    measured = (info["trained_at"] - info["started_at"]) / 60
    predicted = est["duration_s"] / 60
    return {"task": name, "updates": est["total_steps"], "probed": any(t["tool"] == "measure_speed" for t in turn.tools_called), "chat_s": round(chat_s, 1),
            "card_min": round(predicted, 2), "old_card_min": round(old.duration_s / 60, 2),
            "measured_min": round(measured, 2), "error": round((predicted - measured) / measured, 3),
            "old_error": round((old.duration_s / 60 - measured) / measured, 3),
            "card_gb": est["peak_memory_gb"], "old_card_gb": old.peak_memory_gb,
            "measured_gb": info.get("peak_rss_gb")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(TASKS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ["FINETUNE_ASSISTANT_HOME"] = str(Path(tempfile.mkdtemp(prefix="bench-chat-models-")))
    from tools.models.resolve import default_model_dir

    models = default_model_dir().parent  # converted once, before any timing
    rows = []
    for name, (data, goal) in TASKS.items():
        if args.only and name not in args.only:
            continue
        rows.append(run(name, data, goal, models))
        print(json.dumps(rows[-1]), flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
    print("\n| task | updates | card min (before: FLOPs guess, full rows) | card min (now) | measured min | error before | error now |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['task']} | {r['updates']} | {r['old_card_min']:.1f} | {r['card_min']:.1f} | {r['measured_min']:.1f} "
              f"| {r['old_error']:+.0%} | {r['error']:+.0%} |")
    print(f"\n{sum(abs(r['error']) <= 0.25 for r in rows)} of {len(rows)} within ±25% now "
          f"({sum(abs(r['old_error']) <= 0.25 for r in rows)} before).")
    print("\n| task | card GiB (before) | card GiB (now) | measured peak GiB |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['task']} | {r['old_card_gb']:.2f} | {r['card_gb']:.2f} | {r['measured_gb'] or 0:.2f} |")


if __name__ == "__main__":
    main()
