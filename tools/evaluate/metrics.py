"""Text metrics shared by the held-out evaluation and the success checks (no heavy imports).

    from tools.evaluate.metrics import token_f1, rouge_l
    rouge_l("I am Ada", "I am Ada from Lumen")   # 0.75
"""

from __future__ import annotations

import string
from collections import Counter


def normalize(text: str) -> list[str]:
    """Lowercase, drop punctuation, split on whitespace (SQuAD-style answer normalisation)."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return text.split()


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize(prediction) == normalize(reference))


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize(prediction), normalize(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def lcs_length(a: list[str], b: list[str]) -> int:
    """Longest common subsequence by dynamic programming over one row (O(len(a) * len(b)) time)."""
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for x in a:
        prev_diag = 0
        for j, y in enumerate(b, 1):
            prev_diag, row[j] = row[j], prev_diag + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def rouge_l(prediction: str, reference: str, max_tokens: int = 1000) -> float:
    """ROUGE-L F1: the LCS of the two token sequences against each one's length."""
    pred, ref = normalize(prediction)[:max_tokens], normalize(reference)[:max_tokens]
    if not pred or not ref:
        return float(pred == ref)
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)
