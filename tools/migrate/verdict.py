"""The migration's one sentence, kept current in the run's report as blind votes come in.

    refresh_verdict("runs/r1", "r1")
    # "The open model matches the old fine-tune on 87% of held-out prompts by the checks (87 of 100);
    #  you preferred it in 11 of 20 blind votes."

The evaluation wrote the checks' part (`eval/report.json` -> `migration`); each blind vote in the Compare
tab against "old model (recorded)" rewrites the sentence there and in report.md, so the report, the chat
and the Runs tab say the same thing.
"""

from __future__ import annotations

from pathlib import Path

from tools.evaluate.heldout import write_report
from tools.migrate.score import with_votes
from tools.train.run_dir import RunDir


def refresh_verdict(run_dir: str | Path, tuned_model: str) -> str | None:
    """The run's migration sentence with the votes so far (written into its report); None when the run
    was not compared with an old model's recorded answers."""
    run = RunDir(run_dir)
    report = run.eval_report()
    if not report or not report.get("migration"):
        return None
    report["migration"] = with_votes(report["migration"], tuned_model)
    write_report(run.eval_dir, report)
    return report["migration"]["verdict"]


def golden_of(run_dir: str | Path) -> str | None:
    """The golden folder a run is compared with (its plan's `golden`), when it still holds answers."""
    run = RunDir(run_dir)
    if not run.holds_run():
        return None
    golden = run.plan().golden
    return golden if golden and (Path(golden).expanduser() / "golden.jsonl").is_file() else None
