"""PII and secret redaction into typed placeholders: `[EMAIL]`, `[PHONE]`, `[CARD]`, `[IBAN]`, `[IP]`,
`[API_KEY]`, `[SECRET]`, `[PRIVATE_KEY]`, `[SSN]`.

Speed: one regex scanning every character of a dataset costs about a microsecond per character in
Python's `re`, far more than tokenizing. So the strings are joined (NUL-separated) and cheap
triggers find candidate places first: `str.find` for literals ('@', key prefixes, 'password'),
numpy over code points for digit runs and IBAN starts. Full patterns and checksums (Luhn for
cards, mod 97 for IBANs, range checks for IPs and SSNs) then run only there, so look-alike
numbers (dates, prices, order ids) stay. Presidio, when installed, is an optional stronger backend.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter

SEP = "\x00"  # joins strings; no pattern matches it
KINDS = ("EMAIL", "PHONE", "CARD", "IBAN", "IP", "API_KEY", "SECRET", "PRIVATE_KEY", "SSN")
_PRIORITY = {"PRIVATE_KEY": 0, "API_KEY": 1, "SECRET": 2, "EMAIL": 3, "IBAN": 4, "CARD": 5, "SSN": 6, "IP": 7, "PHONE": 8}
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[^\x00]*?-----END [A-Z0-9 ]*PRIVATE KEY-----")
# Literal starts to look for; each hit is then checked with the full pattern (a few cover several:
# "sk-" also finds "sk-proj-", "xox" finds "xoxb-" and "xoxp-").
_API_PREFIXES = ("sk-", "sk_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "AKIA", "AIza", "xox", "hf_", "glpat-")
_API_KEY = re.compile(
    r"(?:sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}|AKIA[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_\-]{35}|xox[abposr]-[A-Za-z0-9\-]{10,}|hf_[A-Za-z0-9]{30,}|sk_(?:live|test)_[A-Za-z0-9]{20,}"
    r"|glpat-[A-Za-z0-9_\-]{20,})"
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}")
_SECRET_WORDS = ("passw", "pwd", "token", "secret", "api", "bearer")  # prefixes of _ASSIGNED's words
_ASSIGNED = re.compile(
    r"(?i:password|passwd|pwd|access[_\- ]?token|auth[_\- ]?token|token|secret(?:[_\- ]?key)?|api[_\- ]?key|bearer)"
    r"(?:\"?\s*[:=]\s*\"?|\s+)(?P<val>[A-Za-z0-9_\-./+=!@#$%^&*]{8,})"
)
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
_NUMERIC = re.compile(
    r"(?P<SSN>\b\d{3}-\d{2}-\d{4}\b)|(?P<IP>\b(?:\d{1,3}\.){3}\d{1,3}\b)|(?P<CARD>\b\d(?:[ \-]?\d){12,18}\b)"
    r"|(?P<PHONE>(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\b\d{2,4}(?:[ .\-]\d{2,4}){1,4}\b)"
)
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_CHUNK_CHARS = 4_000_000


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    iban = iban.replace(" ", "")
    if not 15 <= len(iban) <= 34 or not iban[:2].isalpha():
        return False
    return int("".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])) % 97 == 1


def _ssn_ok(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _phone_ok(text: str) -> bool:
    digits = sum(ch.isdigit() for ch in text)
    if _DATE.fullmatch(text):
        return False
    if text.startswith(("+", "(")):
        return 7 <= digits <= 15
    # Without a country code: 7-12 digits in 3+ groups (bare digit runs are ids, prices, years;
    # 13+ digits in groups are account or card-like numbers).
    return 7 <= digits <= 12 and len(re.findall(r"\d+", text)) >= 3


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _find_all(text: str, literal: str):
    pos = text.find(literal)
    while pos != -1:
        yield pos
        pos = text.find(literal, pos + 1)


def _literal_spans(text: str) -> list[tuple[int, int, str]]:
    spans = []
    for at in _find_all(text, "@"):
        for m in _EMAIL.finditer(text, max(0, at - 64), at + 256):
            if m.start() <= at < m.end():
                spans.append((m.start(), m.end(), "EMAIL"))
    for pos in _find_all(text, "-----BEGIN"):
        if m := _PRIVATE_KEY.match(text, pos):
            spans.append((m.start(), m.end(), "PRIVATE_KEY"))
    for prefix in _API_PREFIXES:
        for pos in _find_all(text, prefix):
            if (pos == 0 or not text[pos - 1].isalnum()) and (m := _API_KEY.match(text, pos)):
                spans.append((m.start(), m.end(), "API_KEY"))
    for pos in _find_all(text, "eyJ"):
        if m := _JWT.match(text, pos):
            spans.append((m.start(), m.end(), "SECRET"))
    for pos in _secret_word_hits(text):
        m = _ASSIGNED.match(text, pos)
        if m and "[" not in m.group("val"):  # keep "password: " and redact the value only
            spans.append((m.start("val"), m.end("val"), "SECRET"))
    return spans


def _secret_word_hits(text: str):
    # Lower-casing keeps positions only for ASCII text; otherwise look for the usual spellings.
    if text.isascii():
        lower = text.lower()
        for word in _SECRET_WORDS:
            yield from _find_all(lower, word)
        return
    for word in _SECRET_WORDS:
        for variant in {word, word.capitalize(), word.upper()}:
            yield from _find_all(text, variant)


def _char_classes():
    import numpy as np

    table = np.zeros(0x110000, dtype=np.uint8)  # every code point: one lookup per character, no range checks
    for ch in "0123456789":
        table[ord(ch)] |= _DIGIT | _HEX
    for ch in " -.()+/":
        table[ord(ch)] |= _SEP
    for ch in "abcdefABCDEF":
        table[ord(ch)] |= _HEX
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        table[ord(ch)] |= _UPPER
    table[ord(":")] |= _COLON
    table[ord(".")] |= _DOT
    return table


_DIGIT, _SEP, _HEX, _COLON, _UPPER, _DOT = 1, 2, 4, 8, 16, 32


def _numeric_spans(text: str) -> list[tuple[int, int, str]]:
    """Digit runs (digits, and separators touching a digit) that can hold a phone, card, SSN or IPv4;
    colon clusters that can be IPv6; IBAN starts. numpy finds them; regexes check only those."""
    import numpy as np

    if _ANY_DIGIT.search(text) is None:  # most chat text: skip numpy's fixed cost (tens of microseconds)
        return []
    global _TABLE
    if _TABLE is None:
        _TABLE = _char_classes()
    cp = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    cls = _TABLE[cp]
    digit = (cls & _DIGIT).astype(bool)
    if not digit.any():
        return []
    near_digit = np.concatenate(([False], digit[:-1])) | np.concatenate((digit[1:], [False]))
    run = digit | ((cls & _SEP).astype(bool) & near_digit)
    edges = np.flatnonzero(np.diff(run.view(np.int8), prepend=0, append=0))
    starts, ends = edges[::2], edges[1::2]
    # Digits and dots per run, from running totals at the run's edges.
    digits = np.concatenate(([0], np.cumsum(digit, dtype=np.int32)))
    digits = digits[ends] - digits[starts]
    dots = np.concatenate(([0], np.cumsum(cp == 46, dtype=np.int32)))
    dots = dots[ends] - dots[starts]
    # Phones, cards, SSNs have >= 7 digits; an IPv4 has >= 4 digits and 3 dots.
    keep = (digits >= 7) | ((digits >= 4) & (dots >= 3))
    spans = []
    for s, e in zip(starts[keep].tolist(), ends[keep].tolist(), strict=True):
        spans += _classify_numbers(text, max(0, s - 1) if s and text[s - 1] == "+" else s, e)
    spans += _ipv6_spans(text, np.flatnonzero(cls & _COLON))
    upper = (cls & _UPPER).astype(bool)
    spans += _iban_spans(text, np.flatnonzero(upper[:-3] & upper[1:-2] & digit[2:-1] & digit[3:]).tolist())
    return spans


def _ipv6_spans(text: str, colons) -> list[tuple[int, int, str]]:
    """Clusters of >= 3 colons at most 5 apart, widened over hex digits, that parse as IPv6."""
    import numpy as np

    if len(colons) < 3:
        return []
    close = np.diff(colons) <= 5
    edges = np.flatnonzero(np.diff(close.view(np.int8), prepend=0, append=0))
    spans = []
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        if b - a < 2:
            continue
        s, e = int(colons[a]), int(colons[b]) + 1
        while s > 0 and text[s - 1] in _HEXCHARS:
            s -= 1
        while e < len(text) and text[e] in _HEXCHARS:
            e += 1
        if not (text[s - 1 : s].isalnum() or text[e : e + 1].isalnum()) and _ip_ok(text[s:e]):
            spans.append((s, e, "IP"))
    return spans


_HEXCHARS = frozenset("0123456789abcdefABCDEF")
_ANY_DIGIT = re.compile(r"[0-9]")
_TABLE = None


def _classify_numbers(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    spans = []
    for m in _NUMERIC.finditer(text, start, end):
        kind, found = m.lastgroup, m.group()
        if kind == "CARD":
            digits = re.sub(r"\D", "", found)
            kind = "CARD" if luhn_ok(digits) else ("PHONE" if _phone_ok(found) else None)
        ok = {"SSN": _ssn_ok, "IP": _ip_ok, "PHONE": _phone_ok}.get(kind or "", lambda _: True)(found)
        if kind and ok:
            spans.append((m.start(), m.end(), kind))
    return spans


def _iban_spans(text: str, starts: list[int]) -> list[tuple[int, int, str]]:
    spans = []
    for pos in starts:
        if pos and text[pos - 1].isalnum():
            continue
        m = _IBAN.match(text, pos)
        if not m:
            continue
        candidate = m.group()
        while candidate:  # the pattern may swallow a following upper-case word; drop groups until it checks
            if iban_ok(candidate):
                spans.append((pos, pos + len(candidate), "IBAN"))
                break
            candidate = candidate.rsplit(" ", 1)[0] if " " in candidate else ""
    return spans


def redact_text(text: str, counts: Counter) -> str:
    spans = _literal_spans(text) + _numeric_spans(text)
    if not spans:
        return text
    spans.sort(key=lambda s: (_PRIORITY[s[2]], s[0]))
    taken: list[tuple[int, int, str]] = []
    for span in spans:  # higher-priority kinds win overlaps (an IBAN's digits are not a phone)
        if all(span[1] <= t[0] or span[0] >= t[1] for t in taken):
            taken.append(span)
    taken.sort()
    out, last = [], 0
    for start, end, kind in taken:
        out += [text[last:start], f"[{kind}]"]
        counts[kind] += 1
        last = end
    out.append(text[last:])
    return "".join(out)


class Redactor:
    """Callable over a list of strings; returns them redacted and keeps counts per kind."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, strings: list[str]) -> list[str]:
        out: list[str] = []
        chunk: list[str] = []
        size = 0
        for s in strings:
            chunk.append(s.replace(SEP, "") if SEP in s else s)
            size += len(s) + 1
            if size >= _CHUNK_CHARS:
                out += redact_text(SEP.join(chunk), self.counts).split(SEP)
                chunk, size = [], 0
        if chunk:
            out += redact_text(SEP.join(chunk), self.counts).split(SEP)
        return out


class PresidioRedactor(Redactor):
    """Regex redaction first, then Presidio's recognisers (names, locations...) on what is left."""

    def __init__(self) -> None:
        super().__init__()
        from presidio_analyzer import AnalyzerEngine

        self._engine = AnalyzerEngine()

    def __call__(self, strings: list[str]) -> list[str]:
        out = []
        for text in super().__call__(strings):
            results = sorted(self._engine.analyze(text=text, language="en"), key=lambda r: r.start, reverse=True)
            for r in results:
                if text[r.start : r.end].startswith("["):
                    continue
                self.counts[r.entity_type] += 1
                text = f"{text[: r.start]}[{r.entity_type}]{text[r.end :]}"
            out.append(text)
        return out
