"""A migration end to end on the tiny model: our own OpenAI-compatible server stands in for the hosted
fine-tune, `migrate record` keeps its answers, `migrate run --yes --json` trains an open model and reports
it against them, and a blind vote in the Compare tab (old model recorded vs tuned) joins the verdict."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from typer.testing import CliRunner

from tools.evaluate.checks import SuccessCriteria, outcomes
from tools.serve.backends import open_backend
from tools.serve.openai_server import serve_backend
from tools.train.run_dir import RunDir
from ui.callbacks import OLD_SIDE, Callbacks
from ui.cli import app
from ui.services import AppConfig, Services

DEMO = Path(__file__).resolve().parents[2] / "tools" / "demo" / "larkspur_support.jsonl"


def _openai_files(tmp_path: Path) -> tuple[Path, Path]:
    """The shipped demo (OpenAI chat rows) cut into a training file and a 4-prompt validation file."""
    lines = DEMO.read_text().splitlines()
    train, validation = tmp_path / "train.jsonl", tmp_path / "validation.jsonl"
    train.write_text("\n".join(lines[:32]) + "\n")
    validation.write_text("\n".join(lines[32:36]) + "\n")
    return train, validation


def _record(validation: Path, golden: Path, tiny_model_dir: Path) -> dict:
    backend = open_backend(str(tiny_model_dir), {}, backend="transformers")
    server = serve_backend(backend)
    handler = signal.getsignal(signal.SIGTERM)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        # Sampled, not greedy: a random tiny model's greedy answer is blank lines, and a blank answer is no reference.
        result = CliRunner().invoke(app, ["migrate", "record", "--data", str(validation), "--endpoint", url, "--model", "base",
                                          "--out", str(golden), "--max-tokens", "8", "--temperature", "1.0", "--json"])  # fmt: skip
    finally:
        signal.signal(signal.SIGTERM, handler)  # `record` turns SIGTERM into Ctrl-C for its own run
        server.shutdown()
        backend.close()
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_record_then_run_reports_the_open_model_against_the_old_answers_and_votes_join(tmp_path, tiny_model_dir):
    train, validation = _openai_files(tmp_path)
    recorded = _record(validation, tmp_path / "golden", tiny_model_dir)
    assert recorded["complete"] and recorded["total"] == 4

    result = CliRunner().invoke(app, ["migrate", "run", "--data", str(train), "--golden", str(tmp_path / "golden"),
                                      "--model", str(tiny_model_dir), "--output", str(tmp_path / "out"), "--yes", "--json",
                                      "--no-probe", "--max-rounds", "1", "--max-steps", "2", "--max-new-tokens", "8"])  # fmt: skip
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(found) >= {"met", "checks", "matched", "total", "verdict", "best_run_dir", "rounds"}
    assert len(found["rounds"]) == 1 and found["rounds"][0]["status"] == "completed" and found["best_run_dir"]
    assert {"tuned_matches_old", "old_vs_data", "tuned_vs_data"} <= set(found["checks"][0])

    # matched/total are exactly the per-prompt results, rescored here from the answers in the JSON.
    criteria = SuccessCriteria(**found["criteria"])
    results = [outcomes(criteria, p["prompt"], p["tuned"], p["old"]) for p in found["prompts"]]
    assert len(found["prompts"]) == 4 and [bool(r) and all(ok for _, ok, _ in r) for r in results] == [p["passed"] for p in found["prompts"]]
    assert found["matched"] == sum(p["passed"] is True for p in found["prompts"])
    assert found["total"] == sum(p["passed"] is not None for p in found["prompts"])
    assert found["met"] == (found["total"] > 0 and found["matched"] / found["total"] >= criteria.target)
    assert found["verdict"].startswith(f"The open model matches the old fine-tune on {round(100 * found['matched'] / found['total'])}%")

    run = RunDir(found["best_run_dir"])
    assert run.eval_report()["migration"]["verdict"] == found["verdict"] and found["verdict"] in run.eval_markdown()
    assert run.plan().golden == str((tmp_path / "golden").resolve())

    # The Compare tab: the run offers "old model (recorded)"; a blind vote for the tuned side joins the sentence.
    services = Services(AppConfig(backend="transformers", max_new_tokens=8))
    cb = Callbacks(services)
    try:
        run_id = cb.tuned_choices(None)["value"]
        radio, _ = cb.opponents(run_id, None)
        assert radio["visible"] and radio["value"] == "base model"
        picked = cb.recorded_list(run_id, OLD_SIDE)["choices"][0][1]
        steps = list(cb.ask(run_id, "", True, OLD_SIDE, picked))
        comp = steps[-1][3]
        assert comp is not None and comp.base_model == "old" and comp.done, steps[-1][2]
        tuned_side = "A" if comp.order[0] == "tuned" else "B"
        reveal, sentence, *_ = cb.vote(tuned_side, comp)
    finally:
        services.close()
    assert "old model's recorded answer" in reveal
    assert sentence == found["verdict"][:-1] + "; you preferred it in 1 of 1 blind votes."
    assert sentence in run.eval_markdown() and run.eval_report()["migration"]["votes"] == {"preferred": 1, "votes": 1}
