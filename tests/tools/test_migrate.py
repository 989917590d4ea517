"""`migrate record`: the old model's answers to every held-out prompt, resumable, retried, key never written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tools.migrate.golden import RecordedBackend, migration_verdict
from tools.migrate.record import RecordError, held_out_prompts, load_golden, record
from tools.serve.backends import Sampling, open_backend
from tools.serve.openai_server import serve_backend
from tools.serve.server import ServeError

SECRET = "sk-test-never-written-0123456789"


def _openai_file(path: Path, rows: int) -> Path:
    lines = []
    for i in range(rows):
        lines.append({"messages": [{"role": "system", "content": "You are Pip."},
                                   {"role": "user", "content": f"Question number {i}?"},
                                   {"role": "assistant", "content": f"Answer {i}."}]})  # fmt: skip
    # OpenAI's preference format: the prompt is input.messages, the reference the preferred output.
    lines.append({"input": {"messages": [{"role": "user", "content": "Pick one"}]},
                  "preferred_output": [{"role": "assistant", "content": "Good"}],
                  "non_preferred_output": [{"role": "assistant", "content": "Bad"}]})  # fmt: skip
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


class _Upstream(BaseHTTPRequestHandler):
    """A stand-in hosted API that counts the prompts it is asked and can fail or stall on purpose."""

    asked: Counter
    plan: list  # status codes to answer before succeeding, consumed in order
    delay_s: float = 0.0

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        question = body["messages"][-1]["content"]
        if self.plan:
            code = self.plan.pop(0)
            self._send(code, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
            return
        time.sleep(self.delay_s)
        self.asked[question] += 1
        self._send(200, {"model": body["model"], "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": f"old: {question}"}}]})

    def _send(self, code: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def upstream():
    handler = type("H", (_Upstream,), {"asked": Counter(), "plan": [], "delay_s": 0.0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_held_out_prompts_cut_at_the_last_assistant_turn_and_keep_it_as_reference(tmp_path):
    prompts = held_out_prompts(_openai_file(tmp_path / "val.jsonl", 2))
    assert [p.messages[-1]["content"] for p in prompts] == ["Question number 0?", "Question number 1?", "Pick one"]
    assert [p.reference for p in prompts] == ["Answer 0.", "Answer 1.", "Good"]


def test_a_bad_row_is_named_by_file_row_and_field(tmp_path):
    bad = tmp_path / "val.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": "oops"}\n')
    with pytest.raises(RecordError, match=r"val.jsonl, row 2, field 'messages'"):
        held_out_prompts(bad)


def test_records_every_prompt_from_our_own_server_on_the_tiny_model(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("OLD_KEY", SECRET)
    backend = open_backend(str(tiny_model_dir), {}, backend="transformers")
    server = serve_backend(backend)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        result = record(_openai_file(tmp_path / "val.jsonl", 3), url, "base", tmp_path / "golden",
                        api_key_env="OLD_KEY", max_tokens=8, concurrency=2)  # fmt: skip
    finally:
        server.shutdown()
        backend.close()
    assert result.complete and result.asked == 4
    golden = load_golden(tmp_path / "golden")
    assert sorted(g["row"] for g in golden) == [1, 2, 3, 4]
    assert all(isinstance(g["answer"], str) and g["model"] == "base" for g in golden)
    written = "".join(p.read_text() for p in (tmp_path / "golden").iterdir())
    assert SECRET not in written and "OLD_KEY" in written  # the variable's name is kept, never its value


def test_retries_429_and_5xx_then_records(tmp_path, upstream):
    handler, url = upstream
    handler.plan.extend([429, 503, 500])
    result = record(_openai_file(tmp_path / "val.jsonl", 2), url, "ft:old", tmp_path / "golden", concurrency=1,
                    sleep=lambda s: None)  # fmt: skip
    assert result.complete and result.asked == 3 and not handler.plan


def test_a_prompt_that_keeps_failing_is_reported_and_the_others_recorded(tmp_path, upstream):
    handler, url = upstream
    handler.plan.extend([503] * 3)
    result = record(_openai_file(tmp_path / "val.jsonl", 2), url, "ft:old", tmp_path / "golden", concurrency=1,
                    max_retries=2, sleep=lambda s: None)  # fmt: skip
    assert len(result.failed) == 1 and "HTTP 503" in result.failed[0]["error"] and result.asked == 2
    # The failed prompt is asked again by the next call; the recorded ones are not.
    again = record(tmp_path / "val.jsonl", url, "ft:old", tmp_path / "golden", sleep=lambda s: None)
    assert again.asked == 1 and again.skipped == 2 and again.complete


def test_an_interrupted_record_resumes_without_asking_any_prompt_twice(tmp_path, upstream):
    handler, url = upstream
    handler.delay_s = 0.2
    data = _openai_file(tmp_path / "val.jsonl", 11)
    out = tmp_path / "golden"
    cmd = [sys.executable, "-m", "ui.cli", "migrate", "record", "--data", str(data), "--endpoint", url,
           "--model", "ft:old", "--out", str(out), "--concurrency", "2", "--json"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(load_golden(out)) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and b"resume" in err
    first = len(load_golden(out))
    assert 3 <= first < 12
    result = record(data, url, "ft:old", out)
    assert result.complete and result.skipped == first and result.asked == 12 - first
    assert set(handler.asked.values()) == {1} and len(handler.asked) == 12
    assert len({g["id"] for g in load_golden(out)}) == 12


def test_the_recorded_old_model_answers_its_prompts_and_refuses_others(tmp_path, upstream):
    _, url = upstream
    record(_openai_file(tmp_path / "val.jsonl", 2), url, "ft:old", tmp_path / "golden")

    class Engine:  # a stand-in engine for the open model: only the "old" side is under test here
        kind, fallback_reason = "transformers", None

        def models(self):
            return {"base": "/m"}

        def chat(self, model, messages, sampling):
            return "engine"

    backend = RecordedBackend(Engine(), tmp_path / "golden")
    asked = [{"role": "system", "content": "You are Pip."}, {"role": "user", "content": "Question number 1?"}]
    assert backend.chat("old", asked, Sampling()) == "old: Question number 1?"
    assert backend.chat("base", asked, Sampling()) == "engine"
    assert set(backend.models()) == {"base", "old"} and len(backend.prompts()) == 3
    with pytest.raises(ServeError, match="held-out prompts"):
        backend.chat("old", [{"role": "user", "content": "something new"}], Sampling())
    assert migration_verdict(87, 100, 11, 20) == (
        "The open model matches the old fine-tune on 87% of held-out prompts by the checks (87 of 100); "
        "you preferred it in 11 of 20 blind votes.")
