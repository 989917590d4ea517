"""Take a trained run out of the app: zip its adapter, merge it into a full model, push it to the Hub.

    finetune-assistant export zip RUN        # <run>/exports/<run id>-adapter.zip
    finetune-assistant export merge RUN      # <run>/merged: a plain transformers model folder
    finetune-assistant export push RUN --repo you/my-model   # token from HF_TOKEN or --token

The Hub token is used for the one upload call and never written, logged or echoed back.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from tools import paths
from tools.train.run_dir import RunDir


class ExportError(RuntimeError):
    """An export that can't be done, with what to do instead."""


def trained_output(run_dir: str | Path) -> Path:
    """The run's final adapter (`adapter/`) or full model (`model/`)."""
    output = RunDir(run_dir).output
    if output is not None:
        return output
    raise ExportError(f"{run_dir} has no trained adapter or model yet; wait for the run to finish or resume it.")


def zip_output(run_dir: str | Path) -> Path:
    """A zip of the run's adapter (or model) folder, written atomically into `<run>/exports/`."""
    run_dir = Path(run_dir)
    source = trained_output(run_dir)
    out_dir = RunDir(run_dir).exports
    out_dir.mkdir(exist_ok=True)
    final = out_dir / f"{run_dir.name}-{source.name}.zip"
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        archive = shutil.make_archive(str(Path(tmp) / "archive"), "zip", root_dir=source)
        Path(archive).replace(final)
    return final


def merge_adapter(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Fold the LoRA/DoRA adapter into the base weights and save a standalone model folder with its tokenizer."""
    import torch
    from peft import AutoPeftModelForCausalLM, PeftConfig
    from transformers import AutoTokenizer

    run_dir = Path(run_dir)
    adapter = trained_output(run_dir)
    if adapter.name != "adapter":
        raise ExportError(f"{run_dir} was fully fine-tuned; its model/ folder is already a standalone model.")
    config = PeftConfig.from_pretrained(adapter)
    if config.peft_type not in ("LORA",):
        raise ExportError(f"{config.peft_type} adapters can't be merged into the weights; serve them as adapters instead.")
    model = AutoPeftModelForCausalLM.from_pretrained(adapter, dtype=torch.float32)
    merged = model.merge_and_unload()
    target = Path(out_dir) if out_dir else RunDir(run_dir).merged
    with paths.atomic_dir(target, replaces="config.json") as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        AutoTokenizer.from_pretrained(adapter).save_pretrained(tmp)
    return target


_REPO = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def push_to_hub(run_dir: str | Path, repo_id: str, token: str, private: bool = True, merged: bool = False) -> str:
    """Upload the adapter (or the merged model) to `repo_id`; returns the repo URL. The token is never stored."""
    from huggingface_hub import HfApi

    run_dir = Path(run_dir)
    if not _REPO.match(repo_id or ""):
        raise ExportError(f"'{repo_id}' is not a Hub repo id; use the form your-name/model-name.")
    if not token or not token.strip():
        raise ExportError("A Hugging Face token with write access is needed (huggingface.co/settings/tokens).")
    folder = RunDir(run_dir).merged if merged else trained_output(run_dir)
    if not folder.is_dir():
        raise ExportError(f"{folder} does not exist; merge the adapter first.")
    card = RunDir(run_dir).card_file
    if card.is_file() and not (folder / "README.md").exists():
        shutil.copy(card, folder / "README.md")
    api = HfApi(token=token.strip())
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message=f"Upload {run_dir.name}")
    except Exception as exc:
        message = str(exc).replace(token.strip(), "***").splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ExportError(f"Could not push to {repo_id}: {message}. Check the token's write access and your network.") from None
    return f"https://huggingface.co/{repo_id}"
