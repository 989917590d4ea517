"""Run folders for the deploy and monitor tests: a tiny random Llama with two random LoRA adapters.

Random (untrained) adapters make the two runs answer differently without a training step, and a plan.yaml
pointing at a small prepared train.jsonl gives the monitor training prompts to measure drift against.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from tools import paths

TRAIN_ROWS = [
    ("My battery dies after 10 km, is that normal?", "No, a full battery should last about 60 km; bring the bike in."),
    ("How much does a day rental cost?", "A day rental costs 35 euros, helmet included."),
    ("Can I return the bike at another shop?", "Yes, any Larkspur shop takes returns during opening hours."),
    ("Do you repair brakes?", "Yes, brake repairs take about an hour; book a slot online."),
]


def make_runs(root: Path, tiny_model_dir: Path) -> tuple[Path, Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    with open(data / "train.jsonl", "w") as fh:
        for q, a in TRAIN_ROWS:
            fh.write(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}) + "\n")
    runs = []
    for i, name in enumerate(("run-a", "run-b")):
        run = root / name
        if not (run / "adapter" / "adapter_config.json").is_file():
            torch.manual_seed(i)
            model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
            config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
            get_peft_model(model, config).save_pretrained(run / "adapter")
        plan = {"training": {"base_model": str(tiny_model_dir), "data_dir": str(data)}}
        (run / "plan.yaml").write_text(yaml.safe_dump(plan))
        runs.append(run)
    return runs[0], runs[1]


class ModuleHome:
    """A data dir shared by one test module (the deployment outlives a single test)."""

    def __init__(self, path: Path):
        self.path, self.old = path, os.environ.get(paths.ENV_HOME)

    def __enter__(self) -> Path:
        os.environ[paths.ENV_HOME] = str(self.path)
        return self.path

    def __exit__(self, *exc) -> None:
        if self.old is None:
            os.environ.pop(paths.ENV_HOME, None)
        else:
            os.environ[paths.ENV_HOME] = self.old
