"""Prompt templates as package data, rendered strictly.

Each template is a YAML file in this folder with a `template` key (Jinja) and an optional `description`
and `variables` list. `render("name", **vars)` raises when a variable is missing (Jinja StrictUndefined),
so a prompt never goes out with a blank hole in it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

__all__ = ["load", "render", "names"]


@cache
def load(name: str) -> dict[str, Any]:
    import yaml

    path = resources.files(__name__) / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt template named '{name}' in prompts/ (have: {', '.join(names())})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("template"), str):
        raise ValueError(f"prompts/{name}.yaml must be a mapping with a 'template' string")
    return data


def render(name: str, **variables: Any) -> str:
    from jinja2 import Environment, StrictUndefined

    env = Environment(undefined=StrictUndefined, keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(load(name)["template"]).render(**variables).strip()


def names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in resources.files(__name__).iterdir() if p.name.endswith(".yaml"))
