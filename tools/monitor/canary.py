"""A canary against its control: the share of thumbs-up among rated answers on each side, and a 95%
confidence interval for the difference (Newcombe's hybrid score interval from two Wilson intervals, which
stays sensible with few ratings or rates near 0 or 1, unlike the plain normal approximation).
"""

from __future__ import annotations

import math
from collections import defaultdict

Z95 = 1.959964


def wilson(up: int, n: int, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = up / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def difference(up_a: int, n_a: int, up_b: int, n_b: int) -> dict:
    """Rate of b minus rate of a, with Newcombe's 95% interval; `significant` when it excludes 0."""
    p_a, p_b = (up_a / n_a if n_a else None), (up_b / n_b if n_b else None)
    if p_a is None or p_b is None:
        return {"diff": None, "low": None, "high": None, "significant": False}
    l_a, u_a = wilson(up_a, n_a)
    l_b, u_b = wilson(up_b, n_b)
    diff = p_b - p_a
    low = diff - math.sqrt((p_b - l_b) ** 2 + (u_a - p_a) ** 2)
    high = diff + math.sqrt((u_b - p_b) ** 2 + (p_a - l_a) ** 2)
    return {"diff": round(diff, 4), "low": round(low, 4), "high": round(high, 4), "significant": low > 0 or high < 0}


def canaries(rows: list[dict]) -> list[dict]:
    """One entry per split control name: each side's model, rated answers, up-rate, and the difference."""
    sides: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in rows:
        if r["route"] not in ("control", "canary"):
            continue
        side = sides[r["requested_model"]].setdefault(r["route"], {"model": r["model"], "requests": 0, "up": 0, "down": 0})
        side["requests"] += 1
        side["up"] += r["rating"] == "up"
        side["down"] += r["rating"] == "down"
    out = []
    for name, s in sorted(sides.items()):
        control = s.get("control", {"model": name, "requests": 0, "up": 0, "down": 0})
        canary = s.get("canary", {"model": "?", "requests": 0, "up": 0, "down": 0})
        for side in (control, canary):
            rated = side["up"] + side["down"]
            side["up_rate"] = round(side["up"] / rated, 4) if rated else None
        diff = difference(control["up"], control["up"] + control["down"], canary["up"], canary["up"] + canary["down"])
        out.append({"requested": name, "control": control, "canary": canary, "up_rate_diff": diff})
    return out
