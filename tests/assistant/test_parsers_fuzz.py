"""Every parser that reads chat text stays fast on long and adversarial input (security review H1).

A 2,000-digit message used to take 28 s in `extract` while holding the GIL, freezing every session. Here each
parser gets 20,000-character adversarial strings (digit runs, repeated separators, whitespace runs, unicode)
and hypothesis-generated text, and must answer within BOUND_S. The bound is generous for a loaded 2-core CI
machine; a quadratic pattern on 20k characters takes seconds, a cubic one minutes, so it still catches them.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant import cues, understand
from assistant.edits import parse_edit
from assistant.extract import extract
from assistant.machines import read_hardware
from assistant.sizes import MAX_CHARS, number_words, read_sizes

BOUND_S = 1.0
N = 20_000

PARSERS = {
    "extract": extract,
    "parse_edit": parse_edit,
    "read_sizes": read_sizes,
    "read_hardware": read_hardware,
    "number_words": number_words,
    "clauses": understand.clauses,
    "negated": understand.negated,
    "cues.preference": cues.preference,
    "cues.verdict": cues.verdict,
    "cues.volatile": cues.volatile,
    "cues.hints": cues.hints,
}

ADVERSARIAL = {
    "digits": "1" * N,
    "digits then unit": "1" * N + " GB of text",
    "digit commas": "1," * (N // 2),
    "digit dots": "1." * (N // 2),
    "spaces": " " * N,
    "batch then spaces": "batch" + " " * N + "x",
    "rank spaces digits": "rank " + " " * (N // 2) + "1" * (N // 2),
    "path run": "a/" * (N // 2) + "x",
    "word run": "a" * N,
    "dollar digits": "$" + "1" * N,
    "number words": "two thousand " * (N // 13),
    "gpu names": "rtx 4090 " * (N // 9),
    "counts": "1 x " * (N // 4),
    "emoji": "🙂" * N,
    "mixed unicode": "ğİß٣੩𝟘" * (N // 6),
    "newlines": "\n" * N,
    "percent": "5%" * (N // 2),
    "quotes": 'for example "' * (N // 13),
    "negations": "not " * (N // 4),
    "file name run": "x." * (N // 2) + "jsonl",
}


def _timed(parser, text: str) -> float:
    start = time.perf_counter()
    parser(text)
    return time.perf_counter() - start


@pytest.mark.parametrize("name", sorted(PARSERS))
@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
def test_every_parser_is_fast_on_adversarial_text(name, case):
    took = _timed(PARSERS[name], ADVERSARIAL[case])
    assert took < BOUND_S, f"{name} took {took:.2f} s on {case!r} ({len(ADVERSARIAL[case])} chars)"


_ALPHABET = st.sampled_from(list("0123456789 ,.-/x$%:;\n\tkmbgKMBG") + ["GB", "rtx", "A100", "two", "thousand",
                                                                          "rows", "epochs", "lr ", "e-", "🙂", "İ"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(pieces=st.lists(_ALPHABET, min_size=1, max_size=400), repeat=st.integers(1, 60))
def test_every_parser_is_fast_on_generated_text(pieces, repeat):
    text = "".join(pieces) * repeat
    for name, parser in PARSERS.items():
        took = _timed(parser, text)
        assert took < BOUND_S, f"{name} took {took:.2f} s on {len(text)} chars: {text[:80]!r}..."


def test_long_messages_are_cut_and_the_user_is_told():
    reading = understand.read("We have 2,000 support chats. " + "x" * (MAX_CHARS * 2))
    assert reading.update.rows == 2000
    assert any("first 4,000 characters" in note for note in reading.notes)
