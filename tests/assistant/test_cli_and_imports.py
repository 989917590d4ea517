"""`finetune-assistant chat` with piped input, the prompts, and cheap imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import prompts

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "trl", "vllm", "peft", "datasets")


def chat(lines: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FINETUNE_ASSISTANT_HOME": str(home)}
    env = {k: v for k, v in env.items() if not k.startswith("FINETUNE_ASSISTANT_LLM_")}
    return subprocess.run([sys.executable, "-m", "ui.cli", "chat", "--json"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)


def test_piped_chat_prints_replies_and_a_json_last_line(app_home):
    result = chat(["I want a support bot from 2,000 chat logs", "", "one RTX 4090"], app_home)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    last = json.loads(lines[-1])
    assert set(last) == {"state", "recommendation", "plan", "tools_called"}
    assert "What will you train on" in result.stdout or "Roughly how many" in result.stdout
    # End of input: the best recommendation from what it has, and no tool ran.
    assert last["recommendation"]["objective"] == "sft" and last["recommendation"]["reasons"]
    assert last["plan"]["training"]["base_model"] == last["recommendation"]["model"]
    assert last["tools_called"] == []
    assert last["state"]["constraints"]["gpu_name"] == "RTX 4090"


def test_an_approval_without_data_calls_no_training_tool(app_home):
    result = chat(["support bot from 800 chat logs, CPU only", "just recommend", "approve"], app_home)
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert "attach your data file" in result.stdout
    assert not [c for c in last["tools_called"] if c["tool"] == "launch_training"]
    assert not any((app_home / "runs").glob("*")) if (app_home / "runs").exists() else True


def test_no_input_still_gives_a_recommendation(app_home):
    result = chat([], app_home)
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["recommendation"] is not None and last["tools_called"] == []


def test_importing_and_chatting_loads_no_ml_library(app_home):
    code = ("import sys, assistant\n"
            "bot = assistant.Assistant(llm=None)\n"
            "turn = bot.send('t', 'support bot from 900 chat logs on an RTX 4090; just recommend')\n"
            "assert turn.awaiting_approval\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    env = {**os.environ, "FINETUNE_ASSISTANT_HOME": str(app_home)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["system", "interview", "phrase", "recommendation", "questions"])
def test_each_prompt_renders_with_its_declared_variables_and_fails_without(name):
    declared = prompts.load(name)["variables"]
    sample = {"known": ["task: chat"], "asked": ["hardware"], "purpose": "p", "draft": "d",
              "understood": ["x"], "questions": ["q?"],
              "rec": {"objective": "none", "method": "none", "reasons": ["r"], "instead": "prompt",
                      "alternatives": [], "base_model": "m", "hardware": "CPU", "estimate": None}}
    assert prompts.render(name, **{k: sample[k] for k in declared})
    with pytest.raises(Exception, match="undefined"):
        prompts.render(name)
