"""Drift of incoming prompts against the training prompts: lengths, and distance to the nearest training prompt.

    report = drift(traffic_prompts, training_rows(["runs/r1/data/train.jsonl"]))
    report["score"]      # mean distance (1 - cosine similarity) to the nearest training prompt, 0..1
    report["farthest"]   # the prompts least like anything trained on, with their nearest training prompt

Similarity is TF-IDF over word uni- and bigrams plus character 3-5-grams (robust to typos), fitted on the
training prompts: offline, instant for thousands of rows, and interpretable. It sees wording, not meaning
("refund" vs "money back" are far apart); an embedding model would see meaning, at the cost of a model.
Lengths are compared with the two-sample Kolmogorov-Smirnov statistic (0: same distribution, 1: disjoint).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _text(content) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def training_rows(files: list[str | Path]) -> list[tuple[str, str]]:
    """(last user prompt, assistant answer) pairs from prepared train.jsonl files (chat or prompt/completion rows)."""
    pairs: list[tuple[str, str]] = []
    for file in files:
        with open(file, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    pair = _pair(json.loads(line))
                    if pair:
                        pairs.append(pair)
    return pairs


def _pair(row: dict) -> tuple[str, str] | None:
    if "messages" in row:
        messages = row["messages"]
        users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
        if not users:
            return None
        answer = next((m for m in messages[users[-1] + 1 :] if m.get("role") == "assistant"), {})
        return _text(messages[users[-1]].get("content")), _text(answer.get("content"))
    if "prompt" in row:
        prompt, completion = row["prompt"], row.get("completion") or row.get("chosen") or ""
        if isinstance(prompt, list):
            prompt = next((_text(m.get("content")) for m in reversed(prompt) if m.get("role") == "user"), "")
        if isinstance(completion, list):
            completion = " ".join(_text(m.get("content")) for m in completion)
        return str(prompt), str(completion)
    if "text" in row:
        return str(row["text"]), ""
    return None


class NearestTraining:
    """Nearest training example of any text, by TF-IDF cosine similarity."""

    def __init__(self, train_prompts: list[str]):
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._hstack = hstack
        self.prompts = train_prompts
        self._words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(train_prompts)
        self._chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit(train_prompts)
        self._train = self._vectors(train_prompts)

    def _vectors(self, texts: list[str]):
        from sklearn.preprocessing import normalize

        return normalize(self._hstack([self._words.transform(texts), self._chars.transform(texts)]).tocsr())

    def nearest(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(index of the nearest training prompt, its cosine similarity) for each text."""
        if not texts:
            return np.zeros(0, dtype=int), np.zeros(0)
        sims = (self._vectors(texts) @ self._train.T).toarray()
        best = sims.argmax(axis=1)
        return best, sims[np.arange(len(texts)), best]


def similarity(a: list[str], b: list[str]) -> np.ndarray:
    """Pairwise-aligned TF-IDF cosine similarity of a[i] and b[i] (answers against answers)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    if not a:
        return np.zeros(0)
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit(a + b)
    va, vb = normalize(vec.transform(a)), normalize(vec.transform(b))
    return np.asarray(va.multiply(vb).sum(axis=1)).ravel()


def drift(prompts: list[str], train: list[tuple[str, str]], top: int = 5) -> dict:
    """Drift figures of `prompts` against the training pairs; `score` None when either side is empty."""
    if not prompts or not train:
        why = "no traffic in the window" if not prompts else "no training data found (the run's plan.yaml data_dir)"
        return {"score": None, "length_ks": None, "farthest": [], "note": why}
    from scipy.stats import ks_2samp

    index = NearestTraining([p for p, _ in train])
    best, sims = index.nearest(prompts)
    lengths_train = [len(p.split()) for p, _ in train]
    lengths_live = [len(p.split()) for p in prompts]
    order = np.argsort(sims)[:top]
    return {
        "score": round(float(np.mean(1 - sims)), 4),
        "length_ks": round(float(ks_2samp(lengths_live, lengths_train).statistic), 4),
        "length_mean": {"traffic": round(float(np.mean(lengths_live)), 1), "training": round(float(np.mean(lengths_train)), 1)},
        "farthest": [{"prompt": prompts[i], "similarity": round(float(sims[i]), 4), "nearest_training": train[best[i]][0]}
                     for i in order],  # fmt: skip
        "prompts": len(prompts),
        "training_prompts": len(train),
    }
