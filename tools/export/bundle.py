"""Take a trained run out of the app: zip its adapter, merge it into a full model, push it to the Hub.

    finetune-assistant export zip RUN        # <run>/exports/<run id>-adapter.zip
    finetune-assistant export merge RUN      # <run>/merged: a plain transformers model folder
    finetune-assistant export push RUN --repo you/my-model   # token from HF_TOKEN or --token

The Hub token is used for the one upload call and never written, logged or echoed back.
"""

from __future__ import annotations

import json
import os
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
    sweep_dead_temps(out_dir)
    final = out_dir / f"{run_dir.name}-{source.name}.zip"
    paths.ensure_free(out_dir, paths.tree_bytes(source), "the adapter archive")  # safetensors hardly compress
    # Built under a hidden name that carries our pid, then renamed: a kill -9 leaves no half-written zip
    # under the final name, and the next export removes the leftover of a process that no longer lives.
    with tempfile.TemporaryDirectory(prefix=f".zip-{os.getpid()}-", dir=out_dir) as tmp:
        archive = shutil.make_archive(str(Path(tmp) / "archive"), "zip", root_dir=source)
        Path(archive).replace(final)
    return final


def sweep_dead_temps(folder: Path) -> int:
    """Remove `.zip-<pid>-*` temp folders whose process is gone (a killed export); returns how many."""
    removed = 0
    for tmp in folder.glob(".zip-*-*"):
        try:
            pid = int(tmp.name.split("-")[1])
            os.kill(pid, 0)
            continue  # that export is still running
        except ProcessLookupError:
            pass
        except (ValueError, PermissionError):
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        removed += 1
    return removed


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
    target = Path(out_dir) if out_dir else RunDir(run_dir).merged
    base = Path(config.base_model_name_or_path or "")
    if base.is_dir():  # a float32 copy of the base weights, whatever their dtype on disk (at most 2x for 16-bit)
        paths.ensure_free(target.parent, 2 * paths.tree_bytes(base), "the merged model")
    model = AutoPeftModelForCausalLM.from_pretrained(adapter, dtype=torch.float32)
    merged = model.merge_and_unload()
    with paths.atomic_dir(target, replaces="config.json") as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        AutoTokenizer.from_pretrained(adapter).save_pretrained(tmp)
    return target


_REPO = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
# Pickles (training_args.bin holds local paths and runs code on load) and optimizer state never leave (M8).
_NEVER_PUSHED = re.compile(r"(\.bin|\.pt|\.pth|\.pkl|\.pickle|\.ckpt)$|^(optimizer|scheduler|rng_state)")
_HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")
_ABS_PATH = re.compile(r"(?<![\w.:/])(/[^\s`'\"|)]+)")


def public_text(text: str) -> str:
    """A model card fit to publish: no absolute paths (home dir, username, data dir) and no 32-hex ids."""
    text = _ABS_PATH.sub(lambda m: Path(m.group(1)).name or "/", text)
    return _HEX_ID.sub("<id>", text)


def stage_push(run_dir: str | Path, folder: str | Path, into: str | Path) -> Path:
    """Copy what may be published from `folder` into `into`: weights, configs, tokenizer, a cleaned card.

    `adapter_config.json`'s `base_model_name_or_path` keeps only the base model's folder name when it is a
    local path (the full path names the user's home directory).
    """
    folder, into = Path(folder), Path(into)
    into.mkdir(parents=True, exist_ok=True)
    for item in folder.iterdir():
        if item.is_file() and not _NEVER_PUSHED.search(item.name) and item.name != "README.md":
            shutil.copy2(item, into / item.name)
    config = into / "adapter_config.json"
    if config.is_file():
        data = json.loads(config.read_text(encoding="utf-8"))
        base = data.get("base_model_name_or_path") or ""
        if base.startswith(("/", "~", ".")):
            data["base_model_name_or_path"] = Path(base).name
        config.write_text(json.dumps(data, indent=2), encoding="utf-8")
    card = Path(run_dir) / "README.md"
    if not card.is_file():
        card = folder / "README.md"
    if card.is_file():
        (into / "README.md").write_text(public_text(card.read_text(encoding="utf-8")), encoding="utf-8")
    return into


def push_to_hub(run_dir: str | Path, repo_id: str, token: str, private: bool = True, merged: bool = False,
                overwrite: bool = False, api=None) -> str:  # fmt: skip
    """Upload the adapter (or the merged model) to `repo_id`; returns the repo URL. The token is never stored.

    A new repo is private unless `private=False`. An existing repo is refused unless `overwrite` (its
    visibility may be public, and its files would be replaced). `api` is an `HfApi` (tests pass a fake Hub).
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    run_dir = Path(run_dir)
    if not _REPO.match(repo_id or ""):
        raise ExportError(f"'{repo_id}' is not a Hub repo id; use the form your-name/model-name.")
    if not token or not token.strip():
        raise ExportError("A Hugging Face token with write access is needed (huggingface.co/settings/tokens).")
    folder = RunDir(run_dir).merged if merged else trained_output(run_dir)
    if not folder.is_dir():
        raise ExportError(f"{folder} does not exist; merge the adapter first.")
    api = api or HfApi(token=token.strip())
    try:
        with tempfile.TemporaryDirectory(prefix=".push-", dir=run_dir) as tmp:
            staged = stage_push(run_dir, folder, tmp)
            try:
                info = api.repo_info(repo_id)
            except RepositoryNotFoundError:
                info = None
            if info is not None and not overwrite:
                visibility = "private" if getattr(info, "private", False) else "PUBLIC"
                raise ExportError(f"{repo_id} already exists ({visibility}); pass --overwrite to upload into it, "
                                  "or choose a new repo name (nothing was uploaded).")
            if info is None:
                api.create_repo(repo_id, private=private)
            api.upload_folder(repo_id=repo_id, folder_path=str(staged), commit_message=f"Upload {run_dir.name}")
    except ExportError:
        raise
    except Exception as exc:
        message = str(exc).replace(token.strip(), "***").splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ExportError(f"Could not push to {repo_id}: {message}. Check the token's write access and your network.") from None
    return f"https://huggingface.co/{repo_id}"
