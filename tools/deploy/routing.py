"""Which served model answers a request: the name in the request, or a canary for a share of its traffic.

    split = parse_split("tuned-v2=10", default_control="tuned-v1")   # 10% of "tuned-v1" traffic -> "tuned-v2"
    split = parse_split("tuned-v1:tuned-v2=10,base:tuned-v1=5")     # CONTROL:CANARY=PCT, several at once
    model, route = choose(split, "tuned-v1", rng)                     # ("tuned-v2", "canary") one time in ten

Each request is drawn independently (not sticky per user): the monitor compares the two sides' feedback
rates, which needs requests, not users, as the unit; a sticky split would be a hash of the key instead.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field


class Split(BaseModel):
    model_config = ConfigDict(extra="forbid")

    control: str
    canary: str
    percent: float = Field(gt=0, lt=100)


def parse_split(text: str | None, default_control: str | None = None) -> list[Split]:
    """`CANARY=PCT` (control: `default_control`) or `CONTROL:CANARY=PCT`, comma-separated."""
    splits: list[Split] = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        names, sep, pct = item.rpartition("=")
        control, colon, canary = names.partition(":")
        if not colon:
            control, canary = default_control or "", names
        try:
            percent = float(pct.rstrip("%"))
        except ValueError:
            percent = -1.0
        if not sep or not control or not canary or not 0 < percent < 100:
            raise ValueError(f"--split item '{item}' must be CANARY=PCT or CONTROL:CANARY=PCT with 0 < PCT < 100, "
                             "e.g. tuned-v1:tuned-v2=10")  # fmt: skip
        if any(s.control == control for s in splits):
            raise ValueError(f"--split names '{control}' as a control twice; give one canary per control")
        splits.append(Split(control=control, canary=canary, percent=percent))
    return splits


def check_names(splits: list[Split], served: set[str]) -> None:
    for s in splits:
        for name in (s.control, s.canary):
            if name not in served:
                raise ValueError(f"--split names '{name}', which is not served (served: {', '.join(sorted(served))})")
        if s.control == s.canary:
            raise ValueError(f"--split sends '{s.control}' to itself")


def choose(splits: list[Split], requested: str, rng: random.Random) -> tuple[str, str | None]:
    """The model to serve and the route taken: None (no split), "control" or "canary"."""
    for s in splits:
        if s.control == requested:
            return (s.canary, "canary") if rng.random() * 100 < s.percent else (requested, "control")
    return requested, None
