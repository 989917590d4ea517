"""The small catalogue of base models the assistant recommends from, smallest first.

The embedded SmolLM2-135M-Instruct (model name "default", no download) is the CPU choice; GPUs get
instruct models from 0.5B to 72B by memory. Licences matter: Llama models are gated and carry the
Llama Community Licence; most Qwen2.5 sizes are Apache-2.0 but 3B and 72B are not.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict


class CatalogueModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # what the user sees and types
    model: str  # what TrainingPlan.base_model gets: "default" or a hub id
    params_b: float
    licence: str
    permissive: bool  # Apache/MIT-style: fine for commercial use without extra terms
    gated: bool = False  # needs a Hub login and licence acceptance
    note: str = ""


CATALOGUE: tuple[CatalogueModel, ...] = (
    CatalogueModel(
        name="SmolLM2-135M-Instruct", model="default", params_b=0.135, licence="Apache-2.0", permissive=True,
        note="embedded, no download; trains in minutes on a CPU",
    ),
    CatalogueModel(name="Qwen2.5-0.5B-Instruct", model="Qwen/Qwen2.5-0.5B-Instruct", params_b=0.49,
                   licence="Apache-2.0", permissive=True),
    CatalogueModel(name="Llama-3.2-1B-Instruct", model="meta-llama/Llama-3.2-1B-Instruct", params_b=1.24,
                   licence="Llama 3.2 Community License", permissive=False, gated=True),
    CatalogueModel(name="Qwen2.5-1.5B-Instruct", model="Qwen/Qwen2.5-1.5B-Instruct", params_b=1.54,
                   licence="Apache-2.0", permissive=True),
    CatalogueModel(name="Llama-3.2-3B-Instruct", model="meta-llama/Llama-3.2-3B-Instruct", params_b=3.21,
                   licence="Llama 3.2 Community License", permissive=False, gated=True),
    CatalogueModel(name="Qwen2.5-3B-Instruct", model="Qwen/Qwen2.5-3B-Instruct", params_b=3.09,
                   licence="Qwen Research License (non-commercial)", permissive=False),
    CatalogueModel(name="Qwen2.5-7B-Instruct", model="Qwen/Qwen2.5-7B-Instruct", params_b=7.62,
                   licence="Apache-2.0", permissive=True),
    CatalogueModel(name="Llama-3.1-8B-Instruct", model="meta-llama/Llama-3.1-8B-Instruct", params_b=8.03,
                   licence="Llama 3.1 Community License", permissive=False, gated=True),
    CatalogueModel(name="Qwen2.5-14B-Instruct", model="Qwen/Qwen2.5-14B-Instruct", params_b=14.8,
                   licence="Apache-2.0", permissive=True),
    CatalogueModel(name="Qwen2.5-32B-Instruct", model="Qwen/Qwen2.5-32B-Instruct", params_b=32.8,
                   licence="Apache-2.0", permissive=True),
    CatalogueModel(name="Llama-3.3-70B-Instruct", model="meta-llama/Llama-3.3-70B-Instruct", params_b=70.6,
                   licence="Llama 3.3 Community License", permissive=False, gated=True),
)

DEFAULT = CATALOGUE[0]


def gpu_models() -> list[CatalogueModel]:
    """GPU candidates, smallest first; the default stays CPU-only (it would waste a GPU)."""
    return [m for m in CATALOGUE if m is not DEFAULT]


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", text.lower())


def find(name: str) -> CatalogueModel | None:
    """Look a model up by catalogue name, hub id, "default", or a loose spelling ("qwen 2.5 1.5b")."""
    key = _key(name)
    if not key:
        return None
    if key in {"default", "smollm2", "smollm2135m", "smollm2135minstruct"}:
        return DEFAULT
    for m in CATALOGUE:
        if key in {_key(m.name), _key(m.model), _key(m.name.removesuffix("-Instruct"))}:
            return m
    return None


def by_size(params_b: float) -> CatalogueModel | None:
    """The catalogue model closest to a size the user named ("a 7B"), preferring permissive licences."""
    ranked = sorted(CATALOGUE, key=lambda m: (abs(m.params_b - params_b) / params_b, not m.permissive))
    best = ranked[0]
    return best if abs(best.params_b - params_b) / params_b < 0.5 else None


_NAME_RE = re.compile(
    r"\b(qwen\s?2\.5[-\s]?\d+(?:\.\d+)?b|llama[-\s]?3\.[123][-\s]?\d+b|smollm2(?:[-\s]?135m)?)(?:[-\s]?instruct)?\b",
    re.IGNORECASE,
)
_SIZE_RE = re.compile(r"\b(?:an?|the)\s+(\d+(?:\.\d+)?)\s?b\b(?:\s*(?:model|parameter|param))?", re.IGNORECASE)


def mentioned(text: str) -> CatalogueModel | None:
    """A catalogue model named in free text: "use Qwen2.5-1.5B", "with a 7B", "Llama 3.1 8B"."""
    for match in _NAME_RE.finditer(text):
        found = find(match.group(1))
        if found:
            return found
    size = _SIZE_RE.search(text)
    if size:
        return by_size(float(size.group(1)))
    return None
