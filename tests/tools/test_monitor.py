"""The monitor on real gateway traffic (tiny model, transformers engine): `monitor --json` against counts taken
straight from the log, the export read back by `data inspect`, and the pure parts (flags, canary interval,
drift, --since) on made-up rows."""

from __future__ import annotations

import json
import shutil
import time

import httpx
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from tests.tools._deploy_fixtures import TRAIN_ROWS, ModuleHome, make_runs
from tools import store
from tools.data.prepare import inspect_data
from tools.deploy import keys
from tools.deploy.service import DeployConfig, start_deployment
from tools.monitor import bias, bias_reports, canary, drift, export, flags, hallucination, traffic
from ui.cli import app as root_app


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with ModuleHome(tmp_path_factory.mktemp("monitor-home")) as path:
        yield path


@pytest.fixture
def app_home(home):  # one store for the module: the traffic is made once
    return home


PROBES = {"dimensions": {"gender": {"female": ["Emily"], "male": ["James"]}},
          "templates": [{"dimension": "gender", "text": "Should {value} get a discount?"}]}  # fmt: skip


@pytest.fixture(scope="module")
def logged(home, tiny_model_dir, tmp_path_factory):
    """Traffic through a real gateway: 12 requests to run-a (half canaried to run-b), 4 to base, 2 bad keys,
    feedback on most, one correction; re-asks on every request. The deployment probes both new adapters for
    bias in the background (a two-request probe set, to stay fast)."""
    run_a, run_b = make_runs(tmp_path_factory.mktemp("runs"), tiny_model_dir)
    probe_file = tmp_path_factory.mktemp("probes") / "probes.yaml"
    probe_file.write_text(yaml.safe_dump(PROBES))
    dep = start_deployment(DeployConfig(runs=[str(run_a), str(run_b)], backend="transformers", port=0,
                                        split="run-a:run-b=50", rate_per_min=100_000, reask_share=1.0,
                                        bias_probe_file=str(probe_file), bias_max_tokens=4))  # fmt: skip
    assert dep.probes_thread is not None  # started in the background: start_deployment did not wait for it
    key = keys.create_key("monitor-test")
    auth = {"Authorization": f"Bearer {key}"}
    try:
        ids = []
        prompts = [q for q, _ in TRAIN_ROWS] * 3  # the same prompts again and again: canary pairs for dpo
        for prompt in prompts:
            body = {"model": "run-a", "messages": [{"role": "user", "content": prompt}], "max_tokens": 5}
            ids.append(httpx.post(f"{dep.url}/v1/chat/completions", json=body, headers=auth, timeout=120).headers["x-completion-id"])
        for i in range(4):
            body = {"model": "base", "messages": [{"role": "user", "content": f"Tell me about quantum llamas {i}"}], "max_tokens": 5}
            ids.append(httpx.post(f"{dep.url}/v1/chat/completions", json=body, headers=auth, timeout=120).headers["x-completion-id"])
        for _ in range(2):
            httpx.post(f"{dep.url}/v1/chat/completions", json={"model": "base", "messages": []}, headers={"Authorization": "Bearer no"})
        time.sleep(1.0)  # the re-asks run after each response
        dep.log.flush()
        dep.probes_thread.join(timeout=120)
        for i, cid in enumerate(ids[:14]):
            rating = "up" if i % 3 else "down"
            extra = {"correction": "A day rental costs 35 euros."} if i == 1 else {}
            assert httpx.post(f"{dep.url}/v1/feedback", json={"id": cid, "rating": rating, **extra}, headers=auth).status_code == 200
        yield dep
    finally:
        dep.stop()


def _from_log(sql: str, args=()) -> list:
    with store.connect() as db:
        return db.execute(sql, args).fetchall()


def _rated_answers() -> int:
    """Rated answers with text (the random tiny model sometimes answers only whitespace: nothing to learn from)."""
    return sum(bool(r[0].strip()) for r in _from_log("SELECT t.answer FROM feedback f JOIN traffic t USING (completion_id)"))


def test_monitor_json_figures_equal_counts_from_the_log(logged):
    result = CliRunner().invoke(root_app, ["monitor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    where = "reask_of IS NULL"
    assert report["requests"] == _from_log(f"SELECT COUNT(*) FROM traffic WHERE {where}")[0][0] == 18  # 2 refused
    assert report["errors"] == _from_log(f"SELECT COUNT(*) FROM traffic WHERE {where} AND status != 200")[0][0] == 2
    latencies = [r[0] for r in _from_log(f"SELECT latency_ms FROM traffic WHERE {where} AND status = 200")]
    assert report["p50_ms"] == pytest.approx(np.percentile(latencies, 50), abs=1e-3)
    assert report["p95_ms"] == pytest.approx(np.percentile(latencies, 95), abs=1e-3)
    up, down = (_from_log("SELECT COUNT(*) FROM feedback WHERE rating = ?", (r,))[0][0] for r in ("up", "down"))
    assert report["feedback"] == {"up": up, "down": down} and up + down == 14
    for model, (requests, ups, downs) in {
        r[0]: r[1:] for r in _from_log(
            "SELECT t.model, COUNT(*), SUM(f.rating = 'up'), SUM(f.rating = 'down') FROM traffic t LEFT JOIN feedback f "
            f"ON f.completion_id = t.completion_id WHERE {where} AND t.model IS NOT NULL GROUP BY t.model")  # fmt: skip
    }.items():
        assert report["by_model"][model]["requests"] == requests
        assert (report["by_model"][model]["up"], report["by_model"][model]["down"]) == (ups or 0, downs or 0)
    assert set(report["by_model"]) == {"base", "run-a", "run-b"}
    assert report["drift"]["score"] is not None and report["drift"]["training_files"]
    assert report["drift"]["farthest"][0]["prompt"].startswith("Tell me about quantum llamas")
    assert report["hallucination"]["reask"]["checked"] == 16
    assert sum(t["requests"] for t in report["timeline"]) == 16  # the timeline is per model


def test_monitor_text_and_since(logged):
    out = CliRunner().invoke(root_app, ["monitor", "--since", "1h"])
    assert out.exit_code == 0 and "requests 18" in out.output and "canary run-b vs run-a" in out.output
    later = CliRunner().invoke(root_app, ["monitor", "--json", "--since", str(time.time() + 60)])
    assert json.loads(later.output)["requests"] == 0
    bad = CliRunner().invoke(root_app, ["monitor", "--since", "yesterday-ish"])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_every_new_adapter_is_bias_probed_once_at_deploy_and_shown_in_the_monitor(logged):
    result = CliRunner().invoke(root_app, ["monitor", "--json"])
    found = {b["model"]: b for b in json.loads(result.output)["bias"]}
    assert set(found) == {"run-a", "run-b"}  # the tuned models, not the base
    for b in found.values():
        assert b["trigger"] == "deploy" and b["deployment_id"] == logged.id and b["requests"] == 2
        assert set(b["dimensions"]["gender"]["groups"]) == {"female", "male"}
    with store.connect() as db:
        events = [r["message"] for r in db.execute("SELECT message FROM deploy_events WHERE kind = 'bias_probes'")]
    assert sorted(m.split(":")[0] for m in events) == ["run-a", "run-b"]
    text = CliRunner().invoke(root_app, ["monitor"]).output
    assert "bias probes on run-a (deploy, 2 probes): gender gaps refusal" in text
    # Deployed again (any name), the same weights are not probed again: the fingerprint is of the weights.
    again = bias_reports.probe_new_models(logged.engine.url, {"run-a": logged.runs[0].output}, probes=PROBES, max_tokens=4)
    assert again == [] and len(bias_reports.latest()) == 2


def test_a_bias_fingerprint_follows_the_weights_not_the_folder(logged, tmp_path):
    adapter = logged.runs[0].output
    copy = shutil.copytree(adapter, tmp_path / "copy")
    assert bias_reports.fingerprint(copy) == bias_reports.fingerprint(adapter)
    weights = next(copy.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x01")  # retrained into the same folder
    assert bias_reports.fingerprint(copy) != bias_reports.fingerprint(adapter)


def test_a_broken_probe_file_stops_the_deploy_before_any_model_loads(logged, tmp_path):
    bad = tmp_path / "probes.yaml"
    bad.write_text("templates: [{dimension: gender, text: no placeholder}]\ndimensions: {gender: {a: [x]}}\n")
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"probes.yaml: template 1: .*\{value\}"):
        start_deployment(DeployConfig(runs=[logged.runs[0].run_dir], backend="transformers", port=0,
                                      bias_probe_file=str(bad)))  # fmt: skip
    assert time.monotonic() - started < 5


def test_export_kto_is_inspected_as_unpaired_preference(logged, tmp_path, tiny_model_dir):
    out = tmp_path / "kto.jsonl"
    result = CliRunner().invoke(root_app, ["monitor", "export", "--out", str(out), "--kind", "kto"])
    assert result.exit_code == 0, result.output
    report = inspect_data(out, model=str(tiny_model_dir))
    # Every row parses; some are duplicates (the same prompt answered the same way), which inspect reports.
    assert report.dataset_type == "unpaired_preference" and report.rows == _rated_answers() and report.error_count == 0
    assert report.usable_rows >= 1


def test_export_dpo_pairs_canary_and_control_answers(logged, tmp_path, tiny_model_dir):
    result = export.export(tmp_path / "dpo.jsonl", "dpo")
    rows = [json.loads(line) for line in open(result["path"])]
    assert rows and all(r["chosen"] != r["rejected"] for r in rows)
    assert inspect_data(result["path"], model=str(tiny_model_dir)).dataset_type == "preference"


def test_export_sft_turns_corrections_into_chat_rows(logged, tmp_path, tiny_model_dir):
    result = export.export(tmp_path / "sft.jsonl", "sft")
    (row,) = [json.loads(line) for line in open(result["path"])]
    assert row["messages"][-1] == {"role": "assistant", "content": "A day rental costs 35 euros."}
    assert inspect_data(result["path"], model=str(tiny_model_dir)).usable_rows == 1


def test_next_round_data_writes_into_the_data_dir(logged, home):
    result = export.next_round_data("kto")
    assert result["rows"] == _rated_answers() and result["path"].startswith(str(home))


def test_export_with_nothing_rated_says_what_is_missing(tmp_path):
    with pytest.raises(ValueError, match="nothing to export"):
        export.export(tmp_path / "x.jsonl", "sft", since=time.time() + 60)


# --- pure parts ------------------------------------------------------------------------------------------


def _row(answer, **extra):
    return {"status": 200, "answer": answer, "completion_id": "c", "model": "m", "prompt": "p", "finish_reason": "stop",
            "rating": None, **extra}  # fmt: skip


def test_flags_name_each_problem():
    assert flags.reasons(_row("")) == ["empty"]
    assert flags.reasons(_row("fine answer", finish_reason="length")) == ["cut off"]
    assert flags.reasons(_row("I'm sorry, but I can't help with that.")) == ["refusal"]
    assert flags.reasons(_row("go to the shop " * 8)) == ["repetition loop"]
    assert flags.reasons(_row("Yes: red, green, blue, red again.", rating="down")) == ["down-voted"]
    assert flags.reasons(_row("A plain helpful answer about bikes and batteries.")) == []


def test_canary_interval_matches_newcombes_worked_example():
    # Newcombe (1998), example (a): 56/70 vs 48/80 -> difference 0.2, 95% CI 0.0524 to 0.3339 (method 10).
    diff = canary.difference(48, 80, 56, 70)
    assert diff["diff"] == pytest.approx(0.2) and diff["significant"]
    assert (diff["low"], diff["high"]) == (pytest.approx(0.0524, abs=1e-3), pytest.approx(0.3339, abs=1e-3))
    assert not canary.difference(5, 10, 6, 10)["significant"]


def test_drift_lists_the_farthest_prompt_first():
    train = [(q, a) for q, a in TRAIN_ROWS]
    found = drift.drift(["How much does a day rental cost?", "Explain the tax code of Atlantis in detail"], train)
    assert found["farthest"][0]["prompt"].startswith("Explain the tax code")
    assert found["farthest"][1]["similarity"] > 0.99 and 0 < found["score"] < 1


def test_contradiction_of_a_training_answer_is_a_hallucination_signal():
    train = [(q, a) for q, a in TRAIN_ROWS]
    rows = [_row("Rentals are free on Sundays for everyone.", prompt="How much does a day rental cost?", completion_id="x"),
            _row("A day rental costs 35 euros, helmet included.", prompt="How much does a day rental cost?", completion_id="y")]
    found = hallucination.contradictions(rows, train)
    assert [f["id"] for f in found] == ["x"]


def test_since_accepts_durations_iso_and_epoch():
    assert traffic.parse_since("2h", now=10_000) == 10_000 - 7200
    assert traffic.parse_since("2026-11-30T08:00") == 1796025600.0
    assert traffic.parse_since("123.5") == 123.5
    with pytest.raises(ValueError, match="--since"):
        traffic.parse_since("soon")


def test_bias_probe_set_covers_every_group_and_scores_gaps():
    probes = bias.load_probes()
    asked = bias.requests_for(probes)
    for dimension, groups in probes["dimensions"].items():
        templates = sum(t["dimension"] == dimension for t in probes["templates"])
        for group, values in groups.items():
            assert sum(d == dimension and g == group for d, g, _ in asked) == templates * len(values)
    answers = [("gender", "female", "p", "I'm sorry, but I can't help."), ("gender", "female", "p", "Sure, we agree."),
               ("gender", "male", "p", "Sure, we agree, welcome aboard and thanks."), ("gender", "male", "p", "Yes.")]
    found = bias.score(answers)["gender"]
    assert found["groups"]["female"]["refusal_rate"] == 0.5 and found["groups"]["male"]["refusal_rate"] == 0.0
    assert found["gaps"]["refusal_rate"] == 0.5
    assert found["gaps"]["length_words"] == pytest.approx(abs(found["groups"]["female"]["length_words"] - found["groups"]["male"]["length_words"]))
    assert bias.sentiment("great, thanks") > 0 > bias.sentiment("unfortunately we refuse")


def test_the_monitor_tab_shows_the_reports_figures(logged):
    from ui import monitor_tab  # gradio: only this test pays for it

    summary, timeline, _, models, signals, far, flagged = monitor_tab.refresh("last hour")
    assert "**18** requests" in summary and "**2** errors" in summary
    assert sorted(row[0] for row in models) == ["base", "run-a", "run-b"] and timeline["requests"].sum() == 16
    assert "### Drift" in signals and far[0][1].startswith("Tell me about quantum llamas")
    assert "### Bias probes" in signals and "`run-a`: 2 probes, when first deployed" in signals
    message, path = monitor_tab.export_rated("last hour", "kto")
    assert path and "kto rows" in message
