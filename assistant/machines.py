"""Hardware in the user's words: GPU models and counts, memory, RAM, "laptop", "Mac M2", "no GPU".

    from assistant.machines import read_hardware
    read_hardware("two A100s with 80 gigs each")   # {"hardware": "gpu", "gpu_name": "A100", "num_gpus": 2, ...}

GPU names and memory come from the one GPU table (`tools.vocab.GPU_TABLE`), so the interview and
the estimator agree on what an "L40S" is. Token walk, no backtracking regex (security review H1).
"""

from __future__ import annotations

from typing import Any

from assistant.sizes import _BREAK, ROW_NOUNS, number_at, span_words, tokens_of
from tools.vocab import GPU_TABLE

# Names users type for table entries; the table's own keys are matched too.
_ALIASES = {"rtx6000": "rtx 6000 ada", "mi300": "mi300x", "a100s": "a100", "h100s": "h100"}
_COUNT_SKIP = {"x", "nvidia", "rtx", "geforce", "gpu", "gpus", "card", "cards", "tesla", "amd", "radeon", "big",
               "of", "the", "our", "fat", "used", "old", "new", "single", "-"}
_CPU_WORDS = {"cpu", "laptop", "macbook", "mac", "m1", "m2", "m3", "m4", "notebook", "chromebook"}
_NO_GPU = ("no gpu", "without gpu", "without a gpu", "don't have a gpu", "dont have a gpu", "no graphics card",
           "cpu only", "only cpu", "only a cpu", "only have cpu", "only have a cpu", "only my laptop", "no gpus",
           "don't have any gpu", "do not have a gpu", "only cpus")
_GPU_WORDS = {"gpu", "gpus", "vram", "cuda", "nvidia", "rtx", "geforce"}


def _gpu_key(tok: str) -> str | None:
    """The GPU table key a token names ("a100", "4090s", "l40s", "xa100" from "8xA100"), or None."""
    tok = _ALIASES.get(tok, tok)
    for candidate in (tok, tok[:-1] if tok.endswith("s") else "", tok[1:] if tok.startswith("x") else ""):
        if candidate in GPU_TABLE and (candidate[0].isalpha() or candidate.isdigit()) and any(c.isdigit() for c in candidate):
            return candidate
    return None


# Gigabytes as people type them; "Go" is the French gigaoctet ("une carte graphique de 12 Go").
_GB = ("gb", "gib", "g", "gigs", "gig", "go")


def read_hardware(text: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(StateUpdate fields, the words behind them) for the machine the user describes."""
    tokens = tokens_of(text)
    found: dict[str, Any] = {}
    quotes: dict[str, str] = {}
    joined = " ".join(tokens)
    for i, tok in enumerate(tokens):
        key = _gpu_key(tok)
        if key and not _named_as_a_gpu(key, tokens, i):
            key = None
        if key is None and tok == "rtx" and i + 1 < len(tokens) and tokens[i + 1] == "6000":
            key = "rtx 6000 ada"
        if key and "gpu_name" not in found:
            # "RTX 4090", not "4090": the name Hardware.parse and the plan card show.
            name = f"{'GTX' if key.startswith(('10', '16')) else 'RTX'} {key}" if key.isdigit() else key.upper()
            found.update(hardware="gpu", gpu_name=name, gpu_memory_gb=GPU_TABLE[key][0])
            count = _count_near(tokens, i)
            if count:
                found["num_gpus"] = count
            quotes["hardware"] = quotes["gpu_name"] = span_words(text, i - 2, i + 1)
    _memory(tokens, found, quotes, text)
    if "hardware" not in found:
        count = _bare_gpu_count(tokens)
        if count:
            found.update(hardware="gpu", num_gpus=count)
            quotes["hardware"] = _as_typed(text, next(t for t in tokens if t in ("gpus", "cards")))
        elif any(phrase in joined for phrase in _NO_GPU) or (_CPU_WORDS & set(tokens) and not _GPU_WORDS & set(tokens)):
            found["hardware"] = "cpu"
            quotes["hardware"] = _as_typed(text, next((p for p in _NO_GPU if p in joined), None) or next(
                t for t in tokens if t in _CPU_WORDS))
        elif _GPU_WORDS & set(tokens) and not any(p in joined for p in _NO_GPU):
            found["hardware"] = "gpu"
            quotes["hardware"] = _as_typed(text, next(t for t in tokens if t in _GPU_WORDS))
    return found, quotes


def _named_as_a_gpu(key: str, tokens: list[str], i: int) -> bool:
    """"1080p video" is a resolution; "since 1660" a year: the older cards' bare numbers are GPUs only when
    someone has one ("one 1080", "my 1070") or a GPU word is beside them ("gtx 1080", "a 1070 ti", "1660 card")."""
    if key.isdigit() and i + 1 < len(tokens) and (tokens[i + 1] in ROW_NOUNS or tokens[i + 1] + "s" in ROW_NOUNS):
        return False  # "we collected 2070 chats", "4090 examples": a count
    if tokens[i + 1 : i + 2] in (["p"], ["i"], ["px"]):
        return False
    if not key.isdigit() or int(key) >= 2000:
        return True
    near = set(tokens[max(0, i - 3) : i]) | set(tokens[i + 1 : i + 4])
    owned = i > 0 and tokens[i - 1] in ("one", "a", "an", "my", "our", "old", "single", "two")  # "I have one 1080"
    return owned or bool(near & (_GPU_WORDS | {"gtx", "ti", "super", "card", "graphics"}))


def _as_typed(text: str, phrase: str) -> str:
    """`phrase` (found in lower-cased tokens) as the user typed it, for a quote."""
    at = text.lower().find(phrase)
    return text[at : at + len(phrase)] if at >= 0 and len(text.lower()) == len(text) else phrase


def _count_near(tokens: list[str], i: int) -> int | None:
    """'two A100s', '8xA100', '8 GPU H100', 'H100 x 8', 'H100 one': the number of cards next to a GPU name."""
    if tokens[i].startswith("x") and i > 0 and tokens[i - 1][0].isdigit():
        return _as_count(number_at(tokens, i - 1))
    j = i - 1
    while j >= 0 and i - j <= 4 and tokens[j] in _COUNT_SKIP:
        j -= 1
    count = _number_ending_at(tokens, j) if j >= 0 else None
    if count:
        return count
    k = i + 1
    if k < len(tokens) and tokens[k] in ("x", "*"):
        k += 1
    found = number_at(tokens, k) if k < len(tokens) else None
    if found and not (found[1] < len(tokens) and tokens[found[1]] in _GB):
        return _as_count(found)
    return None


def _as_count(found: tuple[float, int] | None) -> int | None:
    if not found:
        return None
    value = found[0]
    return int(value) if value == int(value) and 1 <= value <= 1024 else None


def _number_ending_at(tokens: list[str], j: int) -> int | None:
    """A count whose last word is token j ("sixteen", "twenty - four", "8")."""
    for start in range(max(0, j - 4), j + 1):
        found = number_at(tokens, start)
        if found and found[1] == j + 1:
            return _as_count(found)
    return None


def _bare_gpu_count(tokens: list[str]) -> int | None:
    """'two GPUs', '4 gpus': a count of unnamed GPUs."""
    for i, tok in enumerate(tokens):
        if tok in ("gpus", "cards") and i > 0:
            j = i - 1
            while j > 0 and tokens[j] in ("nvidia", "big", "rtx", "used", "x"):
                j -= 1
            count = _number_ending_at(tokens, j)
            if count:
                return count
    return None


def _memory(tokens: list[str], found: dict[str, Any], quotes: dict[str, str], text: str) -> None:
    """'80GB', '12 GB of VRAM' beside a GPU word set the GPU's memory; beside 'RAM' the machine's RAM."""
    for i, tok in enumerate(tokens):
        if tok not in _GB or i == 0 or not tokens[i - 1][0].isdigit():
            continue
        if tok == "go" and (tokens[i - 2 : i - 1] in (["in"], ["one"], ["a"]) or not tokens[i - 1].isdigit()
                            or int(tokens[i - 1]) < 4):
            continue  # "train it all in 1 go": the English word, not gigaoctets
        value = number_at(tokens, i - 1)
        if value is None or not 0 < value[0] < 4096:
            continue
        start, end = i, i
        while start > 0 and tokens[start - 1] not in _BREAK and i - start < 6:
            start -= 1
        while end + 1 < len(tokens) and tokens[end + 1] not in _BREAK and end - i < 6:
            end += 1
        window = set(tokens[start : end + 1])
        if "ram" in window and not ({"vram"} & window):
            found["ram_gb"] = value[0]
        elif window & (_GPU_WORDS | {"card", "cards", "memory"}) or any(_gpu_key(t) for t in window):
            found.update(hardware="gpu", gpu_memory_gb=value[0])
            quotes["gpu_memory_gb"] = span_words(text, i - 1, i)
