"""Cleaning steps over converted records: whitespace normalisation, exact and near duplicate removal.

String work runs over all strings of the dataset at once where it can. Near-duplicates use MinHash
with datasketch's permutations (scheme "affine32", so signatures equal `MinHash.update_batch` over
the same shingle hashes) and datasketch's LSH banding parameters for the threshold. Shingles are
3-word windows of the row's text without its system prompt; words are hashed with numpy over code
points, since hashing millions of shingles one Python call at a time would dominate the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

SEP = "\x00"
_BLANKS = re.compile(r"\n{3,}")
_ODD_SPACES = str.maketrans({"\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u200b": None, "\ufeff": None, "\r": "\n"})
NUM_PERM = 64
SHINGLE = 3  # words per shingle: chat rows are short, and one edited word must not change too many shingles


def string_slots(records: list[dict]) -> list[tuple[Any, Any]]:
    """(container, key) of every text the records hold, so batch functions can write them back."""
    slots = []
    append = slots.append  # a plain loop: this runs once per record and message of the dataset
    for record in records:
        for key, value in record.items():
            if isinstance(value, str):
                if key != "label":
                    append((record, key))
            elif isinstance(value, list) and key != "tools":
                for msg in value:
                    if isinstance(msg, dict) and isinstance(msg.get("content"), str):
                        append((msg, "content"))
    return slots


def map_strings(records: list[dict], *fns: Callable[[list[str]], list[str]]) -> None:
    """Apply batch functions, in order, to every text of every record, in place."""
    slots = string_slots(records)
    strings = [container[key] for container, key in slots]
    for fn in fns:
        strings = fn(strings)
    for (container, key), value in zip(slots, strings, strict=True):
        container[key] = value


def normalise(strings: list[str]) -> list[str]:
    """Unix newlines, no odd spaces or zero-width chars, no trailing spaces, at most one blank line, trimmed."""
    if not strings:
        return strings
    joined = SEP.join(s.replace(SEP, "") for s in strings) if any(SEP in s for s in strings) else SEP.join(strings)
    joined = joined.replace("\r\n", "\n")
    if any(chr(c) in joined for c in _ODD_SPACES):  # translate() is slow; most data has none of these
        joined = joined.translate(_ODD_SPACES)
    out = []
    # Regexes only where needed: a pattern scanning every character costs more than tokenizing it.
    for s in joined.split(SEP):
        if " \n" in s or "\t\n" in s:
            # Per line, not a `[ \t]+\n` regex: that one retries every start of a long run of spaces (L6).
            s = "\n".join(line.rstrip(" \t") for line in s.split("\n"))
        if "\n\n\n" in s:
            s = _BLANKS.sub("\n\n", s)
        out.append(s.strip())
    return out


def record_text(record: dict, with_system: bool = True) -> str:
    """All texts of a record in order; roles included so a question and an answer with the same words differ."""
    parts = []
    for key, value in record.items():
        if isinstance(value, str) and key != "label":
            parts.append(f"{key}: {value}")
        elif isinstance(value, list) and key != "tools":
            parts += [f"{m['role']}: {m['content']}" for m in value if with_system or m.get("role") != "system"]
        elif isinstance(value, bool):
            parts.append(f"{key}: {value}")
    return "\n".join(parts)


def exact_key(record: dict) -> bytes:
    """A 16-byte digest of the record's case-folded, whitespace-collapsed text: equal keys are exact
    duplicates. Digests, not texts, are what a streaming pass keeps for every row."""
    import hashlib

    return hashlib.blake2b(" ".join(record_text(record).casefold().split()).encode("utf-8"), digest_size=16).digest()


def exact_digest(record: dict) -> int:
    """`exact_key` as a 64-bit int: what the streaming pass stores per row (8 bytes in an array)."""
    return int.from_bytes(exact_key(record)[:8], "little")


def duplicates_of_digests(digests) -> dict[int, int]:
    """index -> index of the first row with the same digest (a stable sort groups equal digests,
    first occurrence first), in O(n log n) time and 16 bytes a row."""
    import numpy as np

    digests = np.asarray(digests, dtype=np.uint64)
    order = np.argsort(digests, kind="stable")
    same = np.flatnonzero(digests[order][1:] == digests[order][:-1]) + 1
    if not len(same):
        return {}
    starts = np.flatnonzero(np.concatenate(([True], digests[order][1:] != digests[order][:-1])))
    group_first = order[starts[np.searchsorted(starts, same, side="right") - 1]]
    return dict(zip(order[same].tolist(), group_first.tolist(), strict=True))


def exact_duplicates(records: list[dict]) -> dict[int, int]:
    """index -> index of its first copy, comparing case-folded, whitespace-collapsed text."""
    first: dict[bytes, int] = {}
    dups = {}
    for i, record in enumerate(records):
        j = first.setdefault(exact_key(record), i)
        if j != i:
            dups[i] = j
    return dups


def _fmix32(h):
    """MurmurHash3's 32-bit finalizer, as datasketch applies it before its affine permutations."""
    import numpy as np

    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def word_ids(texts: list[str]):
    """Per text, 32-bit hashes of its lower-cased words (CJK characters count as words), as
    (flat uint32 array, words per text). Vectorised over code points: no Python work per word."""
    import numpy as np

    joined = SEP.join(t.replace(SEP, " ") for t in texts).lower()
    cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    cls = _code_point_classes()[cp]  # one table lookup per character instead of several passes
    word = (cls & _WORD).astype(bool)
    cjk = (cls & _CJK).astype(bool)
    # A word breaks at a non-word character and on both sides of a CJK one ("iPhone用" is two words).
    cut = cjk | ~word
    starts = np.flatnonzero(word & np.concatenate(([True], cut[:-1])) | cjk)
    ends = np.flatnonzero(word & np.concatenate((cut[1:], [True])) | cjk) + 1
    seps = np.flatnonzero(cp == 0)
    lengths = np.diff(np.searchsorted(starts, np.concatenate(([0], seps, [len(cp)]))))
    return _word_hashes(cp, starts, ends), lengths


def _word_hashes(cp, starts, ends):
    """h = h * 0x01000193 + c over a word's first _WORD_CHARS characters, then 0 for each missing one,
    computed as one dot product per word with the powers of the multiplier (all mod 2^32)."""
    import numpy as np

    padded = np.concatenate([cp, np.zeros(_WORD_CHARS, dtype=np.uint32)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, _WORD_CHARS)
    powers = np.array([pow(0x01000193, _WORD_CHARS - 1 - j, 1 << 32) for j in range(_WORD_CHARS)], dtype=np.uint32)
    offsets = np.arange(_WORD_CHARS)
    h = np.empty(len(starts), dtype=np.uint32)
    step = 1 << 20  # words per block: bounds the (words x _WORD_CHARS) temporaries to ~50 MB
    for lo in range(0, len(starts), step):
        block = windows[starts[lo : lo + step]]
        block *= offsets < (ends[lo : lo + step] - starts[lo : lo + step])[:, None]  # zero past the word's end
        h[lo : lo + step] = block @ powers  # integer matmul wraps mod 2^32 like the loop did
    return h


def _code_point_classes():
    """uint8 per code point: _WORD for word characters (ASCII letters, digits, _ and ', and any
    non-ASCII character but Unicode spaces), plus _CJK for characters that are a word each."""
    global _CLASSES
    if _CLASSES is None:
        import numpy as np

        table = np.full(0x110000, _WORD, dtype=np.uint8)
        table[:128] = 0
        table[[ord(c) for c in "0123456789abcdefghijklmnopqrstuvwxyz_'"]] = _WORD
        table[_UNICODE_SPACES] = 0
        table[0x3040:0xA000] |= _CJK
        table[0xAC00:0xD7B0] |= _CJK
        _CLASSES = table
    return _CLASSES


_WORD, _CJK = 1, 2
_CLASSES = None
_WORD_CHARS = 12
_UNICODE_SPACES = [0x85, 0xA0, 0x1680, *range(0x2000, 0x200C), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]


def shingle_hashes(ids, k: int = SHINGLE):
    """32-bit hashes of every k-item window per document (a document shorter than k is one shingle).

    `ids` is a list of id lists, or (flat array, lengths). Returns (hashes, doc_of_each_hash).
    """
    import itertools

    import numpy as np

    if isinstance(ids, tuple):
        flat, lengths = ids
        flat, lengths = np.asarray(flat, dtype=np.uint32), np.asarray(lengths, dtype=np.int64)
    else:
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.uint32, count=int(lengths.sum()))
    n = len(flat)
    h = np.zeros(n, dtype=np.uint32)
    for j in range(k):  # FNV-style mixing of k consecutive ids, wrapping mod 2^32
        h[: n - j] = h[: n - j] * np.uint32(0x01000193) + flat[j:] + np.uint32(1)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    valid = np.ones(n, dtype=bool)
    tails = (ends[:, None] - np.arange(1, k)[None, :]).ravel()  # windows running past their document
    valid[tails[(tails >= np.repeat(starts, k - 1)) & (tails >= 0)]] = False
    doc = np.repeat(np.arange(len(lengths)), lengths)
    for d in np.flatnonzero((lengths > 0) & (lengths < k)).tolist():  # rare: one shingle of a short document
        # Python ints masked to 32 bits: numpy scalars would warn on the (intended) wrap-around.
        acc = 0
        for t in flat[starts[d] : ends[d]].tolist():
            acc = (acc * 0x01000193 + t + 1) & 0xFFFFFFFF
        h[starts[d]] = acc
        valid[starts[d]] = True
    return h[valid], doc[valid]


def minhash_signatures(ids: list[list[int]], num_perm: int = NUM_PERM, seed: int = 1):
    """(n_docs, num_perm) uint32 signatures equal to datasketch `MinHash(num_perm, seed).update_batch(shingles)`
    with an identity hash function over our shingle hashes; empty documents get all-max rows."""
    import numpy as np
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    hashes, doc = shingle_hashes(ids)
    n_docs = len(ids[1]) if isinstance(ids, tuple) else len(ids)
    hashes = _fmix32(hashes)
    sig = np.full((num_perm, n_docs), np.iinfo(np.uint32).max, dtype=np.uint32)
    step = max(1, 4_000_000 // num_perm)
    for lo in range(0, len(hashes), step):  # chunks bound the (num_perm x shingles) matrix
        h, d = hashes[lo : lo + step], doc[lo : lo + step]
        permuted = np.multiply.outer(a, h)
        permuted += b[:, None]
        bounds = np.flatnonzero(np.diff(d, prepend=-1))
        rows = d[bounds]
        sig[:, rows] = np.minimum(sig[:, rows], np.minimum.reduceat(permuted, bounds, axis=1))
    return np.ascontiguousarray(sig.T)


def lsh_bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """datasketch's optimal (bands, rows per band) for the threshold."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def band_keys(sig, bands: int, rows: int):
    """(n_docs, bands) uint64: one 64-bit key per LSH band of each signature (equal bands, equal keys).
    A streaming pass keeps these (8 bytes a band) instead of whole signatures (256 bytes a row)."""
    import numpy as np

    sig = np.asarray(sig, dtype=np.uint64)
    keys = np.empty((sig.shape[0], bands), dtype=np.uint64)
    for band in range(bands):
        h = np.full(sig.shape[0], 0xCBF29CE484222325, dtype=np.uint64)
        for col in range(band * rows, (band + 1) * rows):
            h = (h ^ sig[:, col]) * np.uint64(0x100000001B3)  # FNV-1a over the band's values; arrays wrap silently
        keys[:, band] = h
    return keys


def near_duplicates(sig, threshold: float) -> dict[int, int]:
    """index -> index of an earlier kept document whose estimated Jaccard similarity >= threshold."""
    import numpy as np

    bands, rows = lsh_bands(threshold, sig.shape[1])
    empty = np.all(sig == np.iinfo(np.uint32).max, axis=1)
    return near_duplicates_banded(band_keys(sig, bands, rows), lambda i: sig[i], empty, threshold)


def near_duplicates_banded(keys, signature: Callable[[int], Any], empty, threshold: float,
                           dropped: dict[int, int] | None = None) -> dict[int, int]:
    """Near-duplicates from band keys: documents sharing any band are candidates, confirmed by comparing
    their full signatures (`signature(i)`, e.g. read from a file), so only candidates are ever loaded.
    `dropped` maps rows already removed (exact duplicates) to the row they copy: they are never
    reported, and a candidate that is one stands for its original."""
    import numpy as np

    dropped = dropped or {}
    his, los = candidate_pairs(keys)
    dups: dict[int, int] = {}
    decided = -1  # the last document found to be a duplicate: its other candidates are not compared
    mine, mine_of = None, -1
    for lo in range(0, len(his), _PAIRS_STEP):  # Python ints a slice at a time: pairs stay 16 bytes each
        for i, j in zip(his[lo : lo + _PAIRS_STEP].tolist(), los[lo : lo + _PAIRS_STEP].tolist(), strict=True):
            if i == decided or empty[i] or i in dropped:
                continue
            j = dropped.get(j, j)
            if empty[j] or j == i:
                continue
            j = dups.get(j, j)
            if mine_of != i:
                mine, mine_of = np.asarray(signature(i)), i
            if float(np.mean(mine == np.asarray(signature(j)))) >= threshold:
                dups[i], decided = j, i
    return dups


_PAIRS_STEP = 65536


def candidate_pairs(keys):
    """(later, earlier) index arrays of the documents that share an LSH band, each pair once, ordered by the
    later document then the earlier: 16 bytes a pair in numpy, however many buckets collide."""
    import numpy as np

    n = np.uint64(keys.shape[0])
    found = []
    for band in range(keys.shape[1]):
        order = np.argsort(keys[:, band], kind="stable")
        ranked = keys[order, band]
        same = np.flatnonzero(ranked[1:] == ranked[:-1])  # consecutive members of one bucket
        a, b = order[same].astype(np.uint64), order[same + 1].astype(np.uint64)
        found.append(np.maximum(a, b) * n + np.minimum(a, b))
    joined = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.uint64)
    return (joined // n).astype(np.int64), (joined % n).astype(np.int64)