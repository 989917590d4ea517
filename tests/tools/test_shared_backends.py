"""M7: the app's shared engines are bounded. At most `max_engines` engines stay open and `max_adapters` tuned
models per engine; one more closes or unloads the least recently used idle one, never one a `use` holds
(the pool goes over its limit until that use ends), and what was evicted comes back on its next use.

The pool's bookkeeping runs on fake engines (a vLLM start costs a minute); unloading for real runs on the
tiny transformers model with a trained adapter.
"""

from __future__ import annotations

import gc
import shutil
import threading
import weakref
from pathlib import Path

import pytest

from tools.serve.backends import Sampling, TransformersBackend
from tools.serve.shared import MAX_ADAPTERS_ENV, MAX_ENGINES_ENV, SharedBackends, pool_limits

HELLO = [{"role": "user", "content": "Hello"}]
SHORT = Sampling(max_tokens=6)


class _Engine:
    """A serving engine stand-in that keeps what it serves, what was unloaded from it, and whether it closed."""

    kind, fallback_reason = "fake", None

    def __init__(self, base: str, adapters: dict[str, str]):
        self.base, self.closed, self.removed = base, False, []
        self.served = {"base": base, **{n: str(Path(p).resolve()) for n, p in adapters.items()}}

    def models(self) -> dict[str, str]:
        return dict(self.served)

    def add_adapter(self, name: str, path) -> None:
        self.served[name] = str(Path(path).resolve())

    def remove_adapter(self, name: str) -> None:
        del self.served[name]
        self.removed.append(name)

    def alive(self) -> bool:
        return not self.closed

    def close(self) -> None:
        self.closed = True


class _Opened(dict):
    """The opener the pool calls, keeping every engine it opened by base name (the latest one)."""

    def __call__(self, base, adapters, backend, *extra):
        self[base] = _Engine(base, adapters)
        return self[base]


def _adapters(tmp_path: Path, *names: str) -> dict[str, str]:
    out = {}
    for name in names:
        folder = tmp_path / name / "adapter"
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text("{}")
        out[name] = str(folder)
    return out


def _held(pool: SharedBackends, base: str, adapters: dict[str, str] | None = None):
    """A thread holding `pool.use(base, adapters)` until `leave` is set (a Compare stream in another session)."""
    entered, leave = threading.Event(), threading.Event()

    def hold():
        with pool.use(base, adapters, "vllm"):
            entered.set()
            assert leave.wait(30)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert entered.wait(30)
    return thread, leave


def test_the_least_recently_used_idle_engine_is_closed_to_open_one_more():
    opened = _Opened()
    pool = SharedBackends(opener=opened, max_engines=2, max_adapters=8)
    pool.get("a", backend="vllm")
    pool.get("b", backend="vllm")
    pool.get("a", backend="vllm")  # a is used again: b is now the least recently used
    pool.get("c", backend="vllm")
    assert opened["b"].closed and not opened["a"].closed and not opened["c"].closed
    assert pool.open_engines() == [("a", "vllm"), ("c", "vllm")]
    again = pool.get("b", backend="vllm")  # reopened on its next use; a goes now
    assert again is not None and not again.closed and opened["a"].closed
    pool.close_all()


def test_an_engine_in_use_is_never_closed_and_the_pool_evicts_once_the_use_ends():
    opened = _Opened()
    pool = SharedBackends(opener=opened, max_engines=2, max_adapters=8)
    first, leave_first = _held(pool, "a")
    second, leave_second = _held(pool, "b")
    try:
        with pool.use("c", backend="vllm") as third:  # both others stream: over the limit for now
            assert not any(e.closed for e in opened.values()) and len(pool.open_engines()) == 3
            leave_second.set()
            second.join(30)
            # b's use ended: the only idle engine, so it goes (a and c still stream).
            assert opened["b"].closed and not opened["a"].closed and not third.closed
            assert pool.open_engines() == [("a", "vllm"), ("c", "vllm")]
    finally:
        leave_first.set()
        leave_second.set()
        first.join(30)
    assert not opened["a"].closed, "back under the limit: nothing more to close"
    pool.close_all()


def test_the_least_recently_used_idle_adapter_is_unloaded_and_reloaded_on_its_next_use(tmp_path):
    runs = _adapters(tmp_path, "r1", "r2", "r3")
    opened = _Opened()
    pool = SharedBackends(opener=opened, max_engines=2, max_adapters=2)
    engine = pool.get("a", {"r1": runs["r1"]}, "vllm")
    pool.get("a", {"r2": runs["r2"]}, "vllm")
    pool.get("a", {"r1": runs["r1"]}, "vllm")  # r1 compared again: r2 is the least recently used
    pool.get("a", {"r3": runs["r3"]}, "vllm")
    assert engine.removed == ["r2"] and set(engine.models()) == {"base", "r1", "r3"}
    assert pool.tuned_models("a", "vllm") == ["r1", "r3"]
    with pool.use("a", {"r2": runs["r2"]}, "vllm") as same:  # r2 comes back; r1 is now the oldest
        assert same is engine and engine.models()["r2"] == str(Path(runs["r2"]).resolve())
    assert engine.removed == ["r2", "r1"] and pool.tuned_models("a", "vllm") == ["r3", "r2"]
    assert not engine.closed


def test_an_adapter_in_use_is_kept_and_unloaded_once_its_use_ends(tmp_path):
    runs = _adapters(tmp_path, "r1", "r2")
    opened = _Opened()
    pool = SharedBackends(opener=opened, max_engines=2, max_adapters=1)
    streaming, leave = _held(pool, "a", {"r1": runs["r1"]})
    try:
        with pool.use("a", {"r2": runs["r2"]}, "vllm") as engine:
            assert set(engine.models()) == {"base", "r1", "r2"} and engine.removed == [], "both stream: both stay"
            leave.set()
            streaming.join(30)
            assert engine.removed == ["r1"], "r1's stream ended: it goes, r2 still answers"
            assert set(engine.models()) == {"base", "r2"}
    finally:
        leave.set()
    assert engine.removed == ["r1"] and not engine.closed


@pytest.mark.parametrize(("variable", "value", "message"), [
    (MAX_ENGINES_ENV, "two", r"FINETUNE_ASSISTANT_MAX_ENGINES='two' is not a whole number.*FINETUNE_ASSISTANT_MAX_ENGINES=2"),
    (MAX_ADAPTERS_ENV, "0", r"FINETUNE_ASSISTANT_MAX_ADAPTERS must be at least 1 \(got 0\).*=8"),
    (MAX_ADAPTERS_ENV, "1.5", r"FINETUNE_ASSISTANT_MAX_ADAPTERS='1.5' is not a whole number"),
])  # fmt: skip
def test_a_bad_limit_names_the_variable_and_what_to_write(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        pool_limits()
    with pytest.raises(ValueError, match=message):
        SharedBackends(opener=_Opened())


def test_limits_come_from_the_environment_with_defaults_of_two_engines_and_eight_adapters(monkeypatch):
    monkeypatch.delenv(MAX_ENGINES_ENV, raising=False)
    monkeypatch.delenv(MAX_ADAPTERS_ENV, raising=False)
    assert pool_limits() == (2, 8)
    monkeypatch.setenv(MAX_ENGINES_ENV, " 3 ")
    pool = SharedBackends(opener=_Opened())
    assert (pool.max_engines, pool.max_adapters) == (3, 8)


def test_the_ui_command_refuses_a_bad_limit_before_starting(monkeypatch):
    from typer.testing import CliRunner

    from ui.cli import app

    monkeypatch.setenv(MAX_ENGINES_ENV, "lots")
    result = CliRunner().invoke(app, ["ui"])
    assert result.exit_code == 2 and "FINETUNE_ASSISTANT_MAX_ENGINES='lots' is not a whole number" in result.output


# --- unloading for real: the tiny transformers model ----------------------------------------------------


def _lora_weights(model, name: str) -> int:
    return sum(1 for key, _ in model.named_parameters() if f".{name}." in key)


def test_transformers_remove_adapter_drops_its_weights_and_a_full_model(served_models, tmp_path):
    model_dir, adapter = served_models
    backend = TransformersBackend(str(model_dir))
    try:
        base_answer = backend.chat("base", HELLO, SHORT)
        backend.add_adapter("one", adapter)
        backend.add_adapter("two", shutil.copytree(adapter, tmp_path / "two"))
        tuned_answer = backend.chat("two", HELLO, SHORT)
        assert tuned_answer != base_answer and _lora_weights(backend._model, "one") > 0
        backend.remove_adapter("one")
        assert _lora_weights(backend._model, "one") == 0 and "one" not in backend.models()
        assert backend.chat("two", HELLO, SHORT) == tuned_answer, "the other adapter still answers"
        backend.remove_adapter("two")  # the last one: the plain base model again, no LoRA layers left
        assert not any("lora" in key for key, _ in backend._model.named_parameters())
        assert backend.chat("base", HELLO, SHORT) == base_answer
        with pytest.raises(KeyError, match="no model named 'two'"):
            backend.chat("two", HELLO, SHORT)
        backend.add_adapter("two", tmp_path / "two")
        assert backend.chat("two", HELLO, SHORT) == tuned_answer, "loaded again, it answers as before"

        backend.add_model("full", model_dir)
        full = weakref.ref(backend._full["full"])
        backend.remove_adapter("full")
        gc.collect()
        assert full() is None and "full" not in backend.models(), "nothing keeps the full model's weights"
        with pytest.raises(ValueError, match="base model"):
            backend.remove_adapter("base")
    finally:
        backend.close()


def test_an_evicted_adapter_answers_again_on_its_next_comparison(served_models, tmp_path):
    model_dir, adapter = served_models
    pool = SharedBackends(max_engines=1, max_adapters=1)
    try:
        with pool.use(str(model_dir), {"r1": str(adapter)}, "transformers") as engine:
            first = engine.chat("r1", HELLO, SHORT)
        second_run = shutil.copytree(adapter, tmp_path / "r2")
        with pool.use(str(model_dir), {"r2": str(second_run)}, "transformers") as again:
            assert again is engine and set(engine.models()) == {"base", "r2"}, "r1 was unloaded for r2"
        with pool.use(str(model_dir), {"r1": str(adapter)}, "transformers") as again:
            assert again.chat("r1", HELLO, SHORT) == first and set(engine.models()) == {"base", "r1"}
    finally:
        pool.close_all()
