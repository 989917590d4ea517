"""Base vs tuned through the transformers backend on the tiny model; blind votes become preference data."""

import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tools import paths
from tools.evaluate.compare import compare, compare_stream, export_votes, record_vote, votes, win_rate
from tools.serve.backends import Sampling, TransformersBackend, open_backend

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "finetune-assistant")  # the console script users run
HELLO = [{"role": "user", "content": "Hello"}]
SHORT = Sampling(max_tokens=6)


@pytest.fixture(scope="module")
def serve_model_dir(served_models) -> Path:
    return served_models[0]


@pytest.fixture(scope="module")
def adapter_dir(served_models) -> Path:
    return served_models[1]


@pytest.fixture(scope="module")
def backend(serve_model_dir, adapter_dir):
    opened = open_backend(str(serve_model_dir), {"tuned": str(adapter_dir)}, backend="transformers")
    yield opened
    opened.close()


def test_transformers_backend_switches_the_adapter_on_and_off(backend):
    assert isinstance(backend, TransformersBackend) and backend.fallback_reason is None
    assert set(backend.models()) == {"base", "tuned"}
    base, tuned = backend.chat("base", HELLO, SHORT), backend.chat("tuned", HELLO, SHORT)
    assert base != tuned
    # Switching back must give the base model again, not leave the adapter on.
    assert backend.chat("base", HELLO, SHORT) == base
    assert "".join(backend.stream("tuned", HELLO, SHORT)) == tuned


def test_a_fully_fine_tuned_model_is_served_as_a_second_model(serve_model_dir, backend):
    backend.add_model("full", serve_model_dir)
    assert backend.models()["full"] == str(serve_model_dir.resolve())
    # Same weights as the base, so the same greedy answer: proves it is a separate, plain model.
    assert backend.chat("full", HELLO, SHORT) == backend.chat("base", HELLO, SHORT)
    with pytest.raises(KeyError, match="no model named 'nope'"):
        backend.chat("nope", HELLO, SHORT)


def test_compare_streams_both_answers_with_the_same_settings(backend):
    states = [(c.answers["base"], c.answers["tuned"], c.done) for c in compare_stream(backend, "Hello", "tuned", sampling=SHORT)]
    assert states[-1][2] and not any(done for *_, done in states[:-1])
    assert len(states) > 2  # streamed token by token, not one final chunk
    final = compare(backend, "Hello", "tuned", sampling=SHORT)
    assert final.answers == {"base": backend.chat("base", HELLO, SHORT).strip(), "tuned": backend.chat("tuned", HELLO, SHORT).strip()}
    assert final.sampling == SHORT.model_dump() and set(final.seconds) == {"base", "tuned"}
    with pytest.raises(ValueError, match="empty"):
        compare(backend, "  ", "tuned")


def test_blind_mode_randomises_which_side_is_tuned(backend):
    rng = random.Random(1)
    orders = {compare(backend, f"Question {i}", "tuned", sampling=Sampling(max_tokens=1), blind=True, rng=rng).order for i in range(8)}
    assert orders == {("base", "tuned"), ("tuned", "base")}
    plain = compare(backend, "Hello", "tuned", sampling=Sampling(max_tokens=1))
    assert plain.order == ("base", "tuned") and not plain.blind


def test_votes_are_stored_with_answers_models_and_settings_and_give_a_win_rate(backend):
    rng = random.Random(0)
    comps = [compare(backend, p, "tuned", sampling=SHORT, system="Be brief.", blind=True, rng=rng) for p in ("Hello", "Hi there")]
    tuned_side = "A" if comps[0].order[0] == "tuned" else "B"
    record_vote(comps[0], "tie")
    record_vote(comps[0], tuned_side)  # a re-vote replaces the first one
    record_vote(comps[1], "both_bad")
    rows = votes()
    assert len(rows) == 2 and rows[0]["choice"] == tuned_side
    assert {rows[0]["model_a"], rows[0]["model_b"]} == {"base", "tuned"}
    assert json.loads(rows[0]["settings"])["sampling"]["max_tokens"] == 6
    assert json.loads(rows[0]["messages"])[0] == {"role": "system", "content": "Be brief."}
    with sqlite3.connect(paths.db_path()) as conn:  # the app's one store, table `votes`
        assert conn.execute("SELECT count(*) FROM votes").fetchone()[0] == 2
    tally = win_rate()
    assert (tally.votes, tally.tuned_wins, tally.base_wins, tally.both_bad, tally.rate) == (2, 1, 0, 1, 1.0)
    with pytest.raises(ValueError, match="vote must be one of"):
        record_vote(comps[1], "C")


def test_exported_votes_are_chosen_and_rejected_pairs(backend, tmp_path):
    comp = compare(backend, "Hello", "tuned", sampling=Sampling(max_tokens=6, temperature=1.0), blind=True, rng=random.Random(3))
    with pytest.raises(ValueError, match="no A/B votes"):
        export_votes(tmp_path / "none.jsonl")
    record_vote(comp, "B")
    result = export_votes(tmp_path / "prefs.jsonl")
    rows = [json.loads(line) for line in Path(result.path).read_text().splitlines()]
    assert result.rows == 1 and rows[0]["prompt"] == [{"role": "user", "content": "Hello"}]
    assert rows[0]["chosen"] == [{"role": "assistant", "content": comp.answer_b}]
    assert rows[0]["rejected"] == [{"role": "assistant", "content": comp.answer_a}]


def test_vote_export_is_detected_as_preference_data_by_data_inspect(backend, serve_model_dir, tmp_path):
    try:
        from tools.data import inspect_data  # noqa: F401
    except ImportError:
        pytest.skip("tools.data (data inspect) is not importable yet; un-skip once the data tools land")
    # Sampled, so the random base model says words too (greedy, it only emits newlines).
    comp = compare(backend, "Hello", "tuned", sampling=Sampling(max_tokens=6, temperature=1.0), blind=True, rng=random.Random(5))
    assert comp.answer_a and comp.answer_b
    record_vote(comp, "A")
    exported = export_votes(tmp_path / "prefs.jsonl").path
    # --model: count tokens with the cached tokenizer instead of converting the default model in this fresh home.
    out = subprocess.run([CLI, "data", "inspect", exported, "--json", "--model", str(serve_model_dir)],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["dataset_type"] == "preference"


def test_cli_compare_prints_both_answers_as_json(serve_model_dir, adapter_dir):
    cmd = [CLI, "compare", "--base", str(serve_model_dir), "--adapter", str(adapter_dir),
           "--prompt", "Hello", "--backend", "transformers", "--max-tokens", "6", "--json"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["backend"] == "transformers" and result["base"] != result["tuned"]


def test_cli_compare_with_a_missing_adapter_says_so_without_a_traceback(serve_model_dir, tmp_path):
    cmd = [CLI, "compare", "--base", str(serve_model_dir), "--adapter", str(tmp_path / "nope"),
           "--prompt", "Hello", "--backend", "transformers"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and "nope" in out.stderr and "Traceback" not in out.stderr
    assert "adapter_config.json" in out.stderr  # says what the folder should hold


def _forward_calls_once_settled(backend, calls: list, quiet_s: float = 1.0, limit_s: float = 120) -> int:
    """The forward-pass count once no generation runs (the model lock free and no pass for `quiet_s`)."""
    import time

    last, since, deadline = -1, time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if len(calls) != last:
            last, since = len(calls), time.monotonic()
        elif time.monotonic() - since >= quiet_s and backend._lock.acquire(timeout=0):
            backend._lock.release()
            return last
        time.sleep(0.05)
    raise AssertionError(f"generation still running after {limit_s} s")


def test_closing_a_comparison_stream_stops_both_generations(backend):
    torch_model = backend._model.get_base_model()  # base and tuned (adapter on) both run through it
    calls: list[int] = []
    hook = torch_model.register_forward_hook(lambda *args: calls.append(1))
    try:
        # The premise: greedy, the random base never emits EOS, so an unstopped generation runs every token.
        backend.chat("base", HELLO, Sampling(max_tokens=50))
        assert len(calls) == 50
        calls.clear()
        stream = compare_stream(backend, "Hello", "tuned", sampling=Sampling(max_tokens=50))
        first = next(stream)
        assert not first.done
        stream.close()  # what the UI's Stop button does
        # Unstopped, base alone would make 50 forward passes (and tuned up to 50 more); stopped, each side
        # makes the few it took to see the first words before the cancel reached it.
        assert _forward_calls_once_settled(backend, calls) < 20
    finally:
        hook.remove()


def test_shared_backends_start_one_engine_per_base_and_add_new_runs_to_it(serve_model_dir, adapter_dir, tmp_path):
    import shutil

    from tools.serve.shared import SharedBackends

    pool = SharedBackends()
    try:
        first = pool.get(str(serve_model_dir), {"tuned": str(adapter_dir)}, backend="transformers")
        new_run = tmp_path / "run2"
        shutil.copytree(adapter_dir, new_run)
        again = pool.get(str(serve_model_dir), {"tuned": str(adapter_dir), "run2": str(new_run)}, backend="transformers")
        assert again is first and set(first.models()) == {"base", "tuned", "run2"}
        assert first.chat("run2", HELLO, SHORT) == first.chat("tuned", HELLO, SHORT)
    finally:
        pool.close_all()


def test_votes_export_for_one_run_leaves_other_runs_out(tmp_path):
    from tools.evaluate.compare import Comparison

    def voted(tuned: str, base: str, prompt: str) -> None:
        comp = Comparison(prompt=prompt, messages=[{"role": "user", "content": prompt}], base_model=base,
                          tuned_model=tuned, sampling=SHORT.model_dump(), done=True,
                          answers={"base": f"base says {prompt}", "tuned": f"{tuned} says {prompt}"})  # fmt: skip
        record_vote(comp, "B")  # B is the tuned side in a non-blind comparison

    voted("run1", "base", "one")
    voted("run2", "base", "two")
    voted("run2", "other-base", "three")
    everything = export_votes(tmp_path / "all.jsonl")
    assert everything.rows == 3  # no filter: every run's votes, as before
    run2 = export_votes(tmp_path / "run2.jsonl", tuned_model="run2")
    rows = [json.loads(line) for line in Path(run2.path).read_text(encoding="utf-8").splitlines()]
    assert run2.rows == 2 and {r["chosen"][0]["content"] for r in rows} == {"run2 says two", "run2 says three"}
    one = export_votes(tmp_path / "one.jsonl", tuned_model="run2", base_model="base")
    assert one.rows == 1 and "run2 says two" in Path(one.path).read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="no A/B votes for tuned model 'run3'"):
        export_votes(tmp_path / "none.jsonl", tuned_model="run3")
    assert not (tmp_path / "none.jsonl").exists()


class _FakeEngine:
    """A ChatBackend stand-in whose liveness the test controls (a real dead vLLM server costs a minute)."""

    kind, fallback_reason = "fake", None

    def __init__(self, base: str):
        self.base, self.is_alive, self.closed = base, True, False

    def models(self) -> dict[str, str]:
        return {"base": self.base}

    def alive(self) -> bool:
        return self.is_alive

    def close(self) -> None:
        self.closed = True


def test_shared_backends_reopen_a_dead_engine_and_start_bases_independently(backend):
    import threading

    from tools.serve.backends import VLLMBackend
    from tools.serve.server import ServeConfig, VLLMServer
    from tools.serve.shared import SharedBackends

    # A vLLM backend whose server process is not running is not alive; transformers always is.
    assert not VLLMBackend(VLLMServer(ServeConfig())).alive() and backend.alive()
    slow_started, release = threading.Event(), threading.Event()

    def opener(base, adapters, backend):
        if base == "slow":  # stands in for vLLM's minute of startup
            slow_started.set()
            assert release.wait(30)
        return _FakeEngine(base)

    pool = SharedBackends(opener=opener)
    first = pool.get("fast", backend="vllm")
    assert pool.get("fast", backend="vllm") is first
    first.is_alive = False  # the server died after it started
    second = pool.get("fast", backend="vllm")
    assert second is not first and first.closed and second.alive()
    starting = threading.Thread(target=pool.get, args=("slow", None, "vllm"))
    starting.start()
    try:
        assert slow_started.wait(30)
        # Another base's engine answers while "slow" is still starting: no global lock held through a start.
        done = threading.Event()
        threading.Thread(target=lambda: (pool.get("fast", backend="vllm"), done.set()), daemon=True).start()
        assert done.wait(5)
    finally:
        release.set()
        starting.join(30)
    pool.close_all()
    assert second.closed
