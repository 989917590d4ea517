"""Evaluation of a run folder: metrics by hand-checked examples, the report files, the judge, the CLI."""

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

import prompts
from tools.evaluate.heldout import (
    EvalConfig,
    Example,
    JudgeConfig,
    evaluate,
    exact_match,
    judge_win_rate,
    lcs_length,
    load_examples,
    rouge_l,
    token_f1,
    verdict,
)
from tools.quickstart.demo import demo_dataset_path

REPO = Path(__file__).resolve().parents[2]
TEST_CACHE = Path(os.environ.get("FINETUNE_ASSISTANT_TEST_CACHE", REPO / ".cache" / "tests"))
CLI = str(Path(sys.executable).parent / "finetune-assistant")


def eval_adapter(model: Path) -> Path:
    """An adapter trained gently enough to lower the loss on its data (the serving tests' adapter is
    trained at a rate that makes answers differ, which can overshoot the loss)."""
    from tools.quickstart.demo import quickstart

    run = TEST_CACHE / "tiny-llama-hd32-lora-eval"
    if not (run / "adapter" / "adapter_model.safetensors").is_file():
        quickstart(model=str(model), out_dir=run, max_steps=12, learning_rate=5e-3, max_new_tokens=4)
    return run / "adapter"


@pytest.fixture
def run_dir(served_models, tmp_path) -> Path:
    """A finished run as the trainer leaves it: plan.yaml, adapter/, and a prepared data folder."""
    model = served_models[0]
    adapter = eval_adapter(model)
    data = tmp_path / "data"
    data.mkdir()
    rows = demo_dataset_path().read_text().splitlines()
    (data / "validation.jsonl").write_text("\n".join(rows[:3]) + "\n")
    run = tmp_path / "run"
    shutil.copytree(adapter, run / "adapter")
    plan = {"base_model": str(model), "data_dir": str(data), "method": "lora", "objective": "sft"}
    (run / "plan.yaml").write_text(yaml.safe_dump(plan))
    return run


def test_metrics_match_hand_computed_values():
    assert exact_match("The battery, sir!", "the battery sir") == 1.0
    assert exact_match("battery", "the battery") == 0.0
    # pred {a, b, c}, ref {a, b, d, e}: 2 common -> P 2/3, R 2/4 -> F1 4/7
    assert token_f1("a b c", "a b d e") == pytest.approx(4 / 7)
    assert token_f1("x", "y") == 0.0
    assert lcs_length("a b c d".split(), "a c d b".split()) == 3
    # LCS 3 of 4 and 4 tokens -> F1 0.75
    assert rouge_l("a b c d", "a c d b") == pytest.approx(0.75)
    assert rouge_l("", "") == 1.0 and rouge_l("", "a") == 0.0


def test_validation_rows_of_every_trl_format_become_prompt_and_reference(tmp_path):
    rows = [
        {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]},
        {"prompt": "Q2", "completion": "A2"},
        {"prompt": [{"role": "user", "content": "Q3"}], "completion": [{"role": "assistant", "content": "A3"}]},
        {"prompt": "Q4", "completion": "bad", "label": False},
        {"text": "plain text"},
    ]
    path = tmp_path / "validation.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    examples = load_examples(path, 10)
    assert [e.reference for e in examples] == ["A", "A2", "A3", "plain text"]
    assert examples[0].prompt == [{"role": "user", "content": "Q"}] and examples[3].prompt is None
    path.write_text('{"messages": "oops"}\n')
    with pytest.raises(ValueError, match="row 1"):
        load_examples(path, 10)


def test_evaluate_writes_report_markdown_and_plot_with_one_verdict(run_dir):
    report = evaluate(run_dir, EvalConfig(max_examples=2, max_new_tokens=6))
    metrics = report["metrics"]
    for side in ("base", "tuned"):
        assert set(metrics[side]) == {"loss", "perplexity", "exact_match", "token_f1", "rouge_l"}
        assert metrics[side]["perplexity"] > 1
    # The adapter was trained on this data, so its held-out loss on it is lower than the random base's.
    assert metrics["tuned"]["loss"] < metrics["base"]["loss"]
    assert report["verdict"].startswith("The tuned model ") and report["verdict"].count(".") >= 1
    assert "fell" in report["verdict"]
    out = run_dir / "eval"
    assert json.loads((out / "report.json").read_text())["verdict"] == report["verdict"]
    assert report["verdict"] in (out / "report.md").read_text()
    assert (out / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert report["samples"] and report["samples"][0]["reference"]


def test_verdict_says_who_won_and_by_how_much():
    base = {"loss": 2.0, "rouge_l": 0.20}
    assert verdict({"base": base, "tuned": {"loss": 1.5, "rouge_l": 0.35}}) == (
        "The tuned model beat the base: held-out loss fell 25% (2.000 -> 1.500), and ROUGE-L went from 0.20 to 0.35."
    )
    assert verdict({"base": base, "tuned": {"loss": 2.5, "rouge_l": 0.1}}).startswith("The tuned model did not beat the base")
    assert "mixed" in verdict({"base": base, "tuned": {"loss": 1.5, "rouge_l": 0.1}})
    judged = verdict({"base": base, "tuned": {"loss": 1.5, "rouge_l": 0.1}}, {"win_rate": 0.7, "judged": 10})
    assert judged.startswith("The tuned model beat the base: the judge preferred it in 70% of 10 comparisons")


class _ScriptedJudge(BaseHTTPRequestHandler):
    """An OpenAI-compatible judge that prefers the longer answer, and says so in the rubric's format."""

    seen: list[str] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][0]["content"]
        self.seen.append(text)
        a = text.split("[Answer A]")[1].split("[Answer B]")[0]
        b = text.split("[Answer B]")[1].split("Explain your reasoning")[0]
        reply = "A is more complete.\nVerdict: A" if len(a) > len(b) else "B is more complete.\n**Verdict: B**"
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_judge_win_rate_undoes_the_random_order(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ScriptedJudge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("JUDGE_KEY", "secret")
    examples = [Example(prompt=[{"role": "user", "content": f"Q{i}"}], reference="R") for i in range(6)]
    judge = JudgeConfig(url=f"http://127.0.0.1:{server.server_address[1]}/v1", model="fake", api_key_env="JUDGE_KEY")
    try:
        result = judge_win_rate(judge, examples, base=["no"] * 6, tuned=["a longer and better answer"] * 6, seed=1)
    finally:
        server.shutdown()
    assert result["win_rate"] == 1.0 and result["tuned_wins"] == 6 and result["unparsed"] == 0
    assert "secret" not in json.dumps(result)
    # Both orders were shown: the tuned answer sat under A in some prompts and under B in others.
    positions = {text.index("a longer") < text.index("[Answer B]") for text in _ScriptedJudge.seen[-6:]}
    assert positions == {True, False}


class _FlakyJudge(_ScriptedJudge):
    """Answers every other call with HTTP 500, as an overloaded judge API does."""

    calls = 0

    def do_POST(self):
        type(self).calls += 1
        if self.calls % 2:
            return super().do_POST()
        self.rfile.read(int(self.headers["Content-Length"]))
        data = json.dumps({"error": {"message": "overloaded"}}).encode()
        self.send_response(500)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_failed_judge_calls_are_counted_and_the_rest_still_judged():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyJudge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    examples = [Example(prompt=[{"role": "user", "content": f"Q{i}"}], reference="R") for i in range(6)]
    judge = JudgeConfig(url=f"http://127.0.0.1:{server.server_address[1]}/v1", model="fake", api_key_env=None)
    try:
        result = judge_win_rate(judge, examples, base=["no"] * 6, tuned=["a longer and better answer"] * 6)
    finally:
        server.shutdown()
    assert (result["failed"], result["judged"], result["tuned_wins"], result["win_rate"]) == (3, 3, 3, 1.0)
    assert "overloaded" in result["error"] and "HTTP 500" in result["error"]


# \u escapes: an ASCII locale cannot carry "é" on the command line.
_WRITE_REPORT = r"""
import json, sys
from pathlib import Path
from tools.evaluate.heldout import load_run, write_report
run = Path(sys.argv[1])
plan, _, _ = load_run(run)
side = {"loss": 2.0, "perplexity": 7.4, "exact_match": 0.0, "token_f1": 0.5, "rouge_l": 0.4}
sample = {"prompt": "O\u00f9 est la batterie ?", "reference": "Sous la selle \u2713", "base": "\u2014", "tuned": "Sous la selle"}
report = {"run_dir": str(run), "base_model": plan.training.base_model, "tuned": "adapter", "examples": 1, "generated": 1,
          "backend": "transformers", "metrics": {"base": side, "tuned": dict(side, loss=1.5)}, "judge": None,
          "samples": [sample], "verdict": "The tuned model beat the base \u2014 caf\u00e9 \u2713."}
write_report(run / "eval", report)
print([m for m in ("matplotlib.pyplot",) if m in sys.modules])
"""


def test_reports_are_utf8_whatever_the_locale_and_plots_skip_pyplot(tmp_path):
    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    (tmp_path / "validation.jsonl").write_text("{}\n", encoding="utf-8")
    (run / "plan.yaml").write_text(yaml.safe_dump({"base_model": "modèle", "data_dir": str(tmp_path)},
                                                  allow_unicode=True), encoding="utf-8")  # fmt: skip
    # An ASCII locale without Python's UTF-8 coercion: a bare read_text()/write_text() would fail on "é".
    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    out = subprocess.run([sys.executable, "-c", _WRITE_REPORT, str(run)], capture_output=True, text=True,
                         encoding="utf-8", timeout=120, env=env, cwd=REPO)  # fmt: skip
    assert out.returncode == 0, out.stderr
    # pyplot's global state is not thread-safe and the app evaluates from worker threads: it must not load.
    assert out.stdout.strip() == "[]"
    assert "café ✓" in (run / "eval" / "report.md").read_text(encoding="utf-8")
    assert json.loads((run / "eval" / "report.json").read_text(encoding="utf-8"))["base_model"] == "modèle"
    assert (run / "eval" / "metrics.png").read_bytes()[:4] == b"\x89PNG"


def test_judge_rubric_renders_strictly():
    text = prompts.render("judge_rubric", question="Q", reference="R", answer_a="A1", answer_b="B1")
    assert "Verdict: A" in text and "A1" in text and "B1" in text
    with pytest.raises(Exception, match="answer_b"):
        prompts.render("judge_rubric", question="Q", reference="R", answer_a="A1")


def test_cli_eval_prints_the_verdict_and_refuses_a_folder_without_a_plan(run_dir, tmp_path):
    from tools.paths import free_port

    dead_judge = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    out = subprocess.run([CLI, "eval", str(run_dir), "--max-examples", "1", "--max-new-tokens", "4",
                          "--judge-url", dead_judge, "--judge-model", "judge"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    # An unreachable judge costs the judge's column, not the generated answers and the rest of the report.
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("The tuned model ") and "report.md" in out.stdout
    assert "note: the judge failed on 1 of 1 examples" in out.stderr and "Traceback" not in out.stderr
    judge = json.loads((run_dir / "eval" / "report.json").read_text(encoding="utf-8"))["judge"]
    assert judge["failed"] == 1 and judge["win_rate"] is None and "Connect" in judge["error"]
    bad = subprocess.run([CLI, "eval", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "plan.yaml" in bad.stderr and "Traceback" not in bad.stderr
