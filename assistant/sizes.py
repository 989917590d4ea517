"""Numbers and data sizes in the user's words: digits or words, any unit, turned into rows and tokens.

    from assistant.sizes import read_sizes, number_words
    read_sizes("about two thousand five hundred transcripts")   # Sizes(rows=2500, tokens=1_000_000, ...)
    read_sizes("4 GB of plain text")                              # Sizes(tokens=1_000_000_000, size_mb=4000)

Everything here walks a list of word tokens once; the only regexes are single-quantifier tokenisers, so a
message of 20,000 digits costs milliseconds (security review H1: the old patterns were cubic on digits).

Assumptions behind the token estimate (order of magnitude is all the recommendation needs):
- English text is ~4 bytes per token (GPT-2/Llama BPE on web text), so 1 GB of text ~ 250M tokens.
- A word is ~1.33 tokens; a page is ~500 words (~650 tokens).
- A row ("examples", "conversations", "tickets", ...) is ~250 tokens unless the noun says more:
  a chat ~400, an article or post ~800, a document or report ~1,500, a research paper ~6,000, a book ~100,000.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tools.vocab import GPU_TABLE

MAX_CHARS = 4000  # what the interview parses of one message; the rest is cut, and the user is told
MAX_DIGITS = 15  # a longer digit run is an ID or a hash, not a quantity

BYTES_PER_TOKEN = 4.0
TOKENS_PER_WORD = 1.33
TOKENS_PER_PAGE = 650.0
TOKENS_PER_ROW = 250.0

# "a100", "t4", "don't" stay one word; "10k" and "80gb" split into number and unit. No branch can fail after
# its first character, so findall never backtracks: linear in the text.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+[a-z0-9']*|[^\sa-z0-9]", re.I)

_ONES = {"zero": 0, "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
         "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
         "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "dozen": 12,
         "handful": 5, "couple": 2}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "hundreds": 100, "thousand": 1e3, "thousands": 1e3, "millions": 1e6, "k": 1e3, "million": 1e6, "mio": 1e6, "m": 1e6, "mn": 1e6,
           "billion": 1e9, "b": 1e9, "bn": 1e9}

_BIG = {"hundred", "thousand", "million", "billion"}
_SCALE_AFTER = {"hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion"}
# Vague quantities, for their order of magnitude only: "a few thousand" ~ 3,000, "tens of thousands" ~ 30,000.
_VAGUE = {"few": 3, "several": 5, "tens": 30, "dozens": 30}  # not "many": "how many thousand do I need?"
_STARTS = {*_VAGUE, "half", "hundreds"}

# Nouns that count rows, with tokens per row where a row is usually longer than a short example.
_ROW_TOKENS: dict[str, float] = {
    **dict.fromkeys("rows examples samples pairs records lines questions clauses reviews answers items entries "
                    "messages msgs comments texts sentences prompts responses replies replys completions notes "
                    "descriptions votes judgements judgments comparisons picks choices times outputs "
                    "abstracts tweets claims diffs summaries flags ratings cvs invoices emails mails letters "
                    "headlines titles poems snippets queries tickets qas labelled labeled annotated verdicts "
                    "selections taps clicks decisions judgments annotations drafts translations rewrites edits "
                    "corrections surveys marks grades evaluations assessments interactions turns utterances "
                    "requests cases exercises essays recipes applications hints blurbs captions segments situations "
                    "scenarios passages paragraphs listings excerpts submissions inquiries enquiries complaints "
                    "incidents forms problems solutions lessons quizzes postings resumes profiles bios chapters "
                    "scripts lyrics songs episodes sermons speeches transcriptions scans receipts pdfs faqs "
                    "narratives observations tasks bugs issues commits functions barks quotes orders example sample "
                    "questionnaires datapoints data-points instances pairings".split(),
                    TOKENS_PER_ROW),
    **dict.fromkeys("conversations convos chats dialogues dialogs transcripts threads logs calls exchanges "
                    "sessions".split(), 400.0),
    **dict.fromkeys("articles posts stories pieces newsletters filings agreements contracts memos minutes briefs "
                    "bulletins".split(), 800.0),
    **dict.fromkeys("documents docs reports manuals files guidelines regulations policies procedures "
                    "specifications standards patents theses whitepapers rulings".split(), 1500.0),
    **dict.fromkeys("papers".split(), 6000.0),
    **dict.fromkeys("books volumes tomes novels monographs textbooks".split(), 100_000.0),
}
ROW_NOUNS = frozenset(_ROW_TOKENS)  # words that count examples: "tickets", "pairs", "conversations"
_TEXT_UNITS = {"tokens": 1.0, "token": 1.0, "words": TOKENS_PER_WORD, "pages": TOKENS_PER_PAGE,
               "characters": 0.25, "chars": 0.25}
_BYTE_UNITS = {"kb": 1e3, "mb": 1e6, "megabytes": 1e6, "megs": 1e6, "gb": 1e9, "gigabytes": 1e9, "gigs": 1e9,
               "gig": 1e9, "tb": 1e12, "terabytes": 1e12, "gib": 2**30, "mib": 2**20}
# Nouns after a number that make it something else (people, places, time, hardware, money): the count stops
# there, and never sizes the data, even as a fallback.
_NOT_ROWS = set("categories classes queues departments labels label gpus gpu cards card years year months weeks days "
                "hours hour minutes mins h hrs people users employees clients customers branches languages "
                "layers epochs steps percent cores ram vram dollars euros usd eur yrs yr decades centuries sites "
                "stores shops offices locations countries cities vehicles trucks machines servers nodes beds "
                "students members staff followers subscribers visitors vets doctors nurses writers reviewers "
                "annotators raters agents reps lawyers engineers teachers volunteers stars patients residents "
                "citizens passengers guests farmers families households businesses companies schools warehouses "
                "factories restaurants clinics hospitals campuses farms hotels venues studios kids children".split())
_GENERIC_MIN = 100  # an unknown noun after a count this large may be the data's rows ("5,500 bottles")
# Words ending in -s that are no plural noun ("2.5k PRs" and "2,200 job ads" are; "5,000 of this" is not).
_NOT_NOUNS = set("its has was yes his this thus less plus unless across always perhaps various previous serious "
                 "whereas besides sometimes nowadays afterwards towards regardless thanks does goes is us as".split())
_ARTIFACTS = {"artifact", "artifacts", "adapter", "adapters", "lora", "loras", "checkpoint", "checkpoints", "weights",
              "footprint"}
_SHAPE_MAX = 5  # a known noun counted this small next to a large count of anything describes a row
# "two candidate answers", "2 drafts per ticket": a small count of these describes a row, not the dataset.
_PER_ROW = set("answer answers response responses reply replies completion completions output outputs draft drafts "
               "version versions option options candidates summaries translations rewrites variants alternatives "
               "suggestions generations blurbs takes lines sentences".split())
_CARD_DATA = {"transactions", "transaction", "payments", "payment", "statements", "data", "holders", "numbers",
              "applications", "disputes", "fraud", "swipes", "purchases", "records", "games", "decks", "catalogue"}
_DISTRIBUTIVE = {"each", "every", "per", "any", "no", "which", "that", "this", "the"}
_HAVE = {"have", "got", "only", "just", "collected", "wrote", "written", "gathered", "assembled"}
# Machines whose memory a size may be ("a MacBook with 36 GB"); not "server" ("3 TB of server logs").
_GPU_HINTS = {"gpu", "gpus", "vram", "card", "cards", "cuda", "nvidia", "rtx", "geforce", "ram", "memory", "laptop",
              "macbook", "mac", "pc", "computer", "workstation", "desktop", "unified"}
MACHINE_WORDS = frozenset(_GPU_HINTS)
SIZE_WORDS = frozenset(_BYTE_UNITS)  # a size in bytes: memory as often as data
_BREAK = set(".,;:!?()[]\n")


@dataclass
class Sizes:
    rows: int | None = None
    tokens: int | None = None
    size_mb: float | None = None
    quotes: dict[str, str] = field(default_factory=dict)
    tokens_from_rows: bool = False  # the estimate is rows x tokens per row, not a stated size


def tokens_of(text: str) -> list[str]:
    """Lower-case word, number and punctuation tokens of (at most MAX_CHARS of) `text`; a scale word typed
    one letter off ("25 thousnd", "2 millon", "thosuand") is read as the word."""
    return [_SCALE_TYPOS.get(t, t) for t in (t.lower() for t in _TOKEN.findall(text[:MAX_CHARS]))]


def _scale_typos() -> dict[str, str]:
    """Every string one slip (a letter missing, a letter extra, two letters swapped) from a scale word -> the
    word. A changed letter is not read as a slip: it makes real words ("zillion", "mullion"), as in
    `cues._typo_table`. A variant that is itself a scale word is never remapped."""
    words = ("hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion", "billions")
    letters = "abcdefghijklmnopqrstuvwxyz"
    table: dict[str, str] = {}
    for word in words:
        variants = {word[:i] + word[i + 1 :] for i in range(len(word))}
        variants |= {word[:i] + c + word[i:] for i in range(len(word) + 1) for c in letters}
        variants |= {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
        for variant in variants - set(words):
            table.setdefault(variant, word.removesuffix("s"))
    return table


_SCALE_TYPOS = _scale_typos()


def span_words(text: str, first: int, last: int) -> str:
    """The user's own words from token `first` to token `last` (inclusive), as typed: quotable."""
    spans = [m.span() for m in _TOKEN.finditer(text[:MAX_CHARS])]
    if not spans:
        return ""
    first, last = max(0, first), min(last, len(spans) - 1)
    return text[spans[first][0] : spans[last][1]].strip(" .,;:!?()[]")


def number_at(tokens: list[str], i: int) -> tuple[float, int] | None:
    """The number starting at token i ("2,500", "1.5", "10 k", "two thousand five hundred"), and the index after it."""
    tok = tokens[i]
    if tok[0].isdigit():
        raw = tok.replace(",", "")
        if len(raw) > MAX_DIGITS or raw.count(".") > 1:
            return None
        value, j = float(raw), i + 1
        # "25 000", "1 250 000": thousands grouped by spaces, as much of Europe writes them
        while (raw.isdigit() and len(tok) <= 3 and j < len(tokens) and len(tokens[j]) == 3 and tokens[j].isdigit()
               and tokens[j + 1 : j + 2] != ["-"] and len(str(int(value))) <= MAX_DIGITS - 3):  # "800 200-word ..." # fmt: skip
            value, j = value * 1000 + int(tokens[j]), j + 1
        value, j = _and_a_half(tokens, j, value)
        if j < len(tokens) and tokens[j] in _SCALES:
            value, j = value * _SCALES[tokens[j]], j + 1
        return value, j
    return _word_number(tokens, i)


def _and_a_half(tokens: list[str], j: int, value: float) -> tuple[float, int]:
    """"two and a half (thousand)": the half belongs to the number when a scale word follows it."""
    if tokens[j : j + 3] == ["and", "a", "half"] and j + 3 < len(tokens) and tokens[j + 3] in _SCALES:
        return value + 0.5, j + 3
    return value, j


def _word_number(tokens: list[str], i: int) -> tuple[float, int] | None:
    if tokens[i] == "half" and tokens[i + 1 : i + 2] == ["a"] and tokens[i + 2 : i + 3] and tokens[i + 2] in _BIG:
        return 0.5 * _SCALES[tokens[i + 2]], i + 3  # "half a million"
    if tokens[i] in ("a", "an"):  # "a dozen", "a hundred", "a few thousand": never "a" alone
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        scaled = any(t in _SCALE_AFTER for t in tokens[i + 2 : i + 4]) and tokens[i + 2 : i + 3] != ["and"]
        if nxt in ("dozen", "handful", "couple", "few") and not scaled:  # "a couple" vs "a couple (of) thousand"
            if nxt == "few" and tokens[i + 2 : i + 3] and (tokens[i + 2] in _BYTE_UNITS or tokens[i + 2] in _TEXT_UNITS):
                return float(_VAGUE["few"]), i + 2  # "a few GB of text": about 3 GB
            return (float(_ONES[nxt]), i + 2) if nxt in _ONES else None
        if nxt not in ("hundred", "thousand", "million", "billion", "couple", "few"):
            return None
        i += 1
    total, current, j, last_scale = 0.0, 0.0, i, 0.0
    while j < len(tokens) and j - i < 12:  # a number in words is never longer than this
        tok = tokens[j]
        if tok in _ONES and tok not in ("a", "an"):
            current += _ONES[tok]
        elif tok in _VAGUE and j == i:  # "a few thousand", "several hundred", "tens of thousands"; never alone
            if not any(t in _SCALE_AFTER for t in tokens[j + 1 : j + 3]):
                return None
            current = _VAGUE[tok]
        elif tok in _TENS:
            current += _TENS[tok]
        elif tok in ("hundred", "hundreds"):
            current = (current or 1) * 100
        elif tok in ("thousand", "million", "billion", "thousands", "millions") or (tok in ("k", "m", "b") and j > i):
            total, current, last_scale = total + (current or 1) * _SCALES[tok], 0.0, _SCALES[tok]
        elif tokens[j : j + 3] == ["and", "a", "half"] and j > i and j + 3 < len(tokens) and tokens[j + 3] in _BIG:
            current, j = current + 0.5, j + 3  # "seven and a half thousand"
            continue
        elif tokens[j : j + 3] == ["and", "a", "half"] and j > i and total and not current:
            total, j = total + last_scale / 2, j + 3  # "a million and a half", "five million and a half"
            continue
        elif tok == "of" and j > i and j + 1 < len(tokens) and tokens[j + 1] in _SCALE_AFTER and (current or total):
            pass  # "a couple of thousand", "tens of thousands"
        elif not (tok in ("and", "-") and j > i and j + 1 < len(tokens)
                  and (tokens[j + 1] in _ONES or tokens[j + 1] in _TENS)):
            break
        j += 1
    value = total + current
    if j > i and tokens[j - 1] == "of":  # "a couple of" without a scale after it
        j -= 1
    return (value, j) if j > i and value > 0 else None


def number_words(text: str) -> float | None:
    """The first number in `text`, in digits or words ("two thousand" -> 2000.0)."""
    tokens = tokens_of(text)
    for i in range(len(tokens)):
        found = number_at(tokens, i)
        if found:
            return found[0]
    return None


def read_sizes(text: str) -> Sizes:
    """Row count, estimated tokens and byte size of the data the user describes."""
    tokens = tokens_of(text)
    out = Sizes()
    generic: dict[str, Any] = {}
    few: dict[str, Any] = {}  # a small count of the data's own noun: the last resort (see _few_of_the_data)
    i = 0
    while i < len(tokens):
        found = number_at(tokens, i) if _starts_number(tokens[i]) or tokens[i] in _STARTS else None
        if not found:
            i += 1
            continue
        value, j = found
        if tokens[i] in ("one", "a", "an") and j == i + 1 and i > 0 and tokens[i - 1] in _DISTRIBUTIVE:
            i += 1  # "each one labelled", "every one of them": one item, not the dataset's size
            continue
        if _not_a_count(tokens, i, j):
            i = max(j, i + 1)
            continue
        unit, k = _unit_after(tokens, j)
        dotted = float(tokens[i].replace(".", "")) if j == i + 1 and _thousands_dot(tokens[i]) else None
        if unit and unit in _ROW_TOKENS and dotted:
            value = dotted  # "19.000 descriptions": a count has no decimals
        if unit and _describes_a_row(value, unit, tokens, i, k):
            unit = None
        if unit and j == i + 1 and _year(tokens[i]) and i > 0 and tokens[i - 1] in ("our", "the", "from", "since", "their"):
            unit = None  # "our 2024 chat logs", "the 2019 reports": a year, not a count
        if unit:
            _record(out, value, unit, tokens, i, k, span_words(text, i, k))
        elif dotted and dotted >= _GENERIC_MIN:
            _generic(generic, dotted, tokens, i, j, text)  # "3.000 error codes"
        elif value >= _GENERIC_MIN and value == int(value):
            _generic(generic, value, tokens, i, j, text)
        elif value == int(value) and _few_of_the_data(value, tokens, i, j):
            _generic(few, value, tokens, i, j, text)
        i = max(j, i + 1)
    # A few short rows next to a larger count describe a row ("for about 900 themes I had two scripts generated").
    shaped = out.rows is not None and out.rows <= _SHAPE_MAX and out.tokens_from_rows and _short_rows(out)
    if shaped and generic:
        out.rows = None
    if out.rows is None and generic and (out.tokens is None or out.tokens_from_rows):
        _adopt(out, generic["rows"], generic["quote"])
    if out.rows is None and out.tokens is None:
        _bare_count(tokens, out, text)
    elif shaped and not generic:
        bare = Sizes()  # "They saw two letters for the same donor and ticked the better one. About 5,000 of those."
        _bare_count(tokens, bare, text)
        if bare.rows:
            _adopt(out, bare.rows, bare.quotes["rows"])
    if out.rows is None and out.tokens is None and few:
        _adopt(out, few["rows"], few["quote"])
    return out


def _adopt(out: Sizes, rows: int, quote: str) -> None:
    """A count found without a known unit becomes the rows, and the token estimate follows them."""
    out.rows, out.tokens, out.tokens_from_rows = rows, int(rows * TOKENS_PER_ROW), True
    out.quotes["rows"] = out.quotes["tokens"] = quote


def _starts_number(tok: str) -> bool:
    return tok[0].isdigit() or tok in _ONES or tok in _TENS


def _not_a_count(tokens: list[str], i: int, j: int) -> bool:
    """"(1-5)", "4-5 stars", "17th-century", "the 3rd", "$300": a scale, an ordinal or money, not a number of
    things."""
    after = tokens[j : j + 2]
    if after[:1] == ["-"] and after[1:] and after[1][0].isdigit():
        return True  # the lower end of a range: the upper end ("10-15k tickets") may be the count
    before = tokens[i - 1] if i > 0 else ""
    upper = before == "-" and i > 1 and tokens[i - 2][0].isdigit()
    scale = tokens[j : j + 1] in ([")"], ["stars"], ["points"], ["scale"], ["star"]) or any(
        t in ("rated", "scored", "graded", "scale", "from", "rating", "score") for t in tokens[max(0, i - 5) : i])
    return (after[:1] and after[0] in ("th", "st", "nd", "rd") and tokens[i].isdigit()) or (upper and scale) or (
        before in ("$", "€", "£"))  # "$300" is money


def _thousands_dot(raw: str) -> bool:
    return bool(re.fullmatch(r"\d{1,3}(?:\.\d{3})+", raw))


def _generic(generic: dict[str, Any], value: float, tokens: list[str], i: int, j: int, text: str) -> None:
    """A large count of something this module has no word for ("about 5,500 bottles", "~5k adjudications"):
    kept aside, and used as the rows only when no known noun gave a count at all. A GPU's number ("an RTX
    4080 if that matters"), a year and a rate of the business are no count."""
    if tokens[i] in GPU_TABLE or (i > 0 and tokens[i - 1] in ("rtx", "gtx", "geforce", "nvidia", "radeon", "quadro")):
        return
    if _year(tokens[i]) and value == int(tokens[i]):
        return  # "in 2021", "since 2015": a year (not "2000k")
    if any(tokens[m : m + 2] in (["a", p], ["per", p], ["each", p], ["every", p]) for m in range(j, min(j + 5, len(tokens)))
           for p in ("day", "week", "month", "year", "hour")):
        return  # "we ship 4,000 parcels a week": a rate of the business, not the data
    for k in range(j, min(j + 5, len(tokens))):
        tok = tokens[k]
        card_data = tok in ("card", "cards") and k > j  # "~70k recipe cards": counted by the thousand, no GPU
        if not card_data and (tok in _BREAK or tok[0].isdigit() or tok in _NOT_ROWS or tok in _SCALES or _is_hardware(tok)
                              or tok in ("them", "it", "they", "we", "us", "you")):
            return  # "5,000 employees, 300 of them in sales": 300 of something already named
        if tok.isalpha() and len(tok) >= 3 and tok.endswith("s") and tok not in _NOT_NOUNS and value > generic.get("rows", 0):
            generic.update(rows=int(value), quote=span_words(text, i, k))
            return


# Verbs of making what the model should produce: "write obituaries", "draft eulogies".
_MAKING = {"write", "writes", "writing", "draft", "drafts", "drafting", "compose", "composes", "produce", "produces",
           "generate", "generates", "create", "creates", "answer", "answers", "translate", "summarize", "summarise",
           "rewrite", "rewrites"}


def _short_rows(out: Sizes) -> bool:
    """The small count was of short rows ("two scripts", "two letters"), not of documents or books."""
    noun = (out.quotes.get("rows") or "").lower().split()[-1:] or [""]
    return _ROW_TOKENS.get(noun[0], TOKENS_PER_ROW) < 1500


def _few_of_the_data(value: float, tokens: list[str], i: int, j: int) -> bool:
    """A small count of a noun this module has no word for is the data only when the user says so: the noun is
    what the model should make ("write obituaries ... I have maybe twenty obituaries"), or examples are named
    beside it. "We have two websites", "we only have 2 products" and "three therapists" size nothing."""
    noun = tokens[j] if j < len(tokens) else ""
    if value < 2 or not (noun.isalpha() and len(noun) > 3 and noun.endswith("s")) or noun in _NOT_ROWS \
            or noun.endswith(("ers", "ists", "ians", "ants", "ors", "ees")):
        return False
    if noun in _PER_ROW:
        return False  # "writing two versions of commentary": the shape of a row
    stem = noun.removesuffix("s").removesuffix("ie")
    made = any(tokens[m] in _MAKING and any(t.startswith(stem) for t in tokens[m + 1 : min(m + 4, i)]) for m in range(i))
    examples = any(t in ("examples", "samples") for t in tokens[max(0, i - 8) : j + 8])
    return made or examples


def _unit_after(tokens: list[str], j: int) -> tuple[str | None, int]:
    """The unit noun within four words after a number ("2,000 support chat logs" -> "logs")."""
    if j + 1 < len(tokens) and tokens[j] == "of" and tokens[j - 1] == "one":
        return None, j  # "one of our tickets" is not a count
    seen = 0
    for k in range(j, min(j + 12, len(tokens))):
        tok = tokens[k]
        if tok in ("-", "/", "&"):
            continue  # "question-and-answer pairs", "instruction/response pairs": one compound word
        seen += 1
        if seen > 5:
            break
        if tok in _NOT_ROWS and tokens[k + 1 : k + 2] and tokens[k + 1] in _ROW_TOKENS:
            continue  # "350 of the adult label texts": a modifier of the noun after it
        if tok in _BREAK or tok in _NOT_ROWS or tok[0].isdigit():
            return None, k
        if tok in _ROW_TOKENS or tok in _TEXT_UNITS or tok in _BYTE_UNITS:
            return tok, k
        nxt = tokens[k + 1] if k + 1 < len(tokens) else "."
        if seen == 1 and tok + "s" in _ROW_TOKENS and not _year(tokens[j - 1]) and _plural_count(tokens[j - 1]) and (
                nxt in _BREAK or nxt in ("with", "from", "between", "of", "in", "for", "and", "about", "on", "so")):
            return tok + "s", k  # "3000 conversation with customers"; not "12 ticket categories"
        if tok.endswith("s") and tok[:-1] in _BYTE_UNITS:
            return tok[:-1], k
        if tokens[k - 1] == "/" and tok + "s" in _ROW_TOKENS and tokens[k + 1 : k + 2] != ["pairs"]:
            return tok + "s", k  # "12k instruction/response": the pair named by its two halves
    return None, j


def _year(tok: str) -> bool:
    return tok.isdigit() and len(tok) == 4 and 1900 <= int(tok) <= 2100  # "our 2024 chat logs"


def _plural_count(tok: str) -> bool:
    """The number before a noun counts more than one ("3000", "12k", "two"), so the noun is a plural."""
    return tok not in ("1", "one", "a", "an") and (_starts_number(tok) or tok in _SCALES)


def _describes_a_row(value: float, unit: str, tokens: list[str], i: int, k: int) -> bool:
    """"each with two answers", "received two translations", "one correct answer": the shape of a row.
    "we have 3 answers so far" is a (tiny) dataset."""
    if value <= 5 and (tokens[k + 1 : k + 3] in (["for", "each"], ["for", "every"], ["on", "each"], ["per", "item"])
                       or tokens[k + 1 : k + 2] == ["per"]):
        return True  # "two counselling notes for each patient", "three descriptions per property": a row's shape
    if value > 4 or unit not in _PER_ROW:
        return False
    before = tokens[i - 1] if i > 0 else ""
    after = tokens[k + 1] if k + 1 < len(tokens) else ""
    each = any(t in ("each", "every", "per") for t in tokens[max(0, i - 6) : i])  # "for each email our staff got 2"
    return each or before not in _HAVE or after in ("per", "for", "each", "of")


def _is_hardware(tok: str, after: str = "") -> bool:
    if tok in ("card", "cards") and after in _CARD_DATA:
        return False  # "3 GB of card transactions" is data; "a 24 GB card" is a GPU
    # GPU model names are letters then digits ("a100", "t4", "l40s", "a6000") or a bare number the GPU table
    # knows ("12GB 3060"); RAM and VRAM are memory too.
    return tok in _GPU_HINTS or tok in GPU_TABLE or (tok[0].isalpha() and any(c.isdigit() for c in tok))


def _clause(tokens: list[str], i: int) -> list[str]:
    start, end = i, i
    while start > 0 and tokens[start - 1] not in _BREAK:
        start -= 1
    while end < len(tokens) and tokens[end] not in _BREAK:
        end += 1
    return tokens[start:end]


_FILLER = {"about", "around", "roughly", "approx", "each", "apiece", "total", "with", "and", "a", "an", "the",
           "maybe", "like", "some", "ish", "so", "it", "in", "i", "think", "guess", "believe", "probably", "or"}


def _clause_before(tokens: list[str], i: int) -> list[str]:
    start = i
    while start > 0 and tokens[start - 1] not in _BREAK:
        start -= 1
    if start == 0 or tokens[start - 1] not in (",", ";", "(", ")"):
        return []  # a sentence end: what came before is another statement
    return _clause(tokens, start - 2) if start >= 2 else []


def _record(out: Sizes, value: float, unit: str, tokens: list[str], i: int, k: int, quote: str) -> None:
    if unit in _BYTE_UNITS:
        clause = _clause(tokens, i)
        of_data = tokens[k + 1 : k + 2] == ["of"] and tokens[k + 2 : k + 3] not in (["ram"], ["vram"], ["memory"], ["unified"])
        if not of_data and not [t for t in clause if t.isalpha() and t not in _BYTE_UNITS and t not in _FILLER]:
            clause = clause + _clause_before(tokens, i)  # "an RTX A6000 in it, 48 gigs": the size of what came before
        memory = not of_data and any(_is_hardware(t, after) for t, after in zip(clause, [*clause[1:], ""], strict=True))
        if memory or out.size_mb is not None or tokens[k + 1 : k + 2] in (["each"], ["apiece"]):
            return  # "A100 80GB", "16 GB RAM", "a MacBook with 36 GB", "two cards, 48 GB each": memory, not data
        if any(t in _ARTIFACTS for t in tokens[max(0, i - 8) : i]) and not of_data:
            return  # "a per-customer artifact that's tiny, ideally a few KB": the size of what we train
        size_bytes = value * _BYTE_UNITS[unit]
        out.size_mb = size_bytes / 1e6
        out.tokens, out.tokens_from_rows = int(size_bytes / BYTES_PER_TOKEN), False
        out.quotes["size_mb"] = out.quotes["tokens"] = quote
    elif unit in _TEXT_UNITS:
        if k + 1 < len(tokens) and tokens[k + 1] in ("per", "each", "a", "an"):
            return  # "max 42 characters per line", "500 words each": the size of a row, not of the data
        if unit != "pages" and value <= 1000 and "of" in tokens[max(0, i - 3) : i]:
            return  # "a plain-language summary of about 150 words": the length of one item
        if out.tokens is None or out.tokens_from_rows:
            out.tokens, out.tokens_from_rows = int(value * _TEXT_UNITS[unit]), False
            out.quotes["tokens"] = quote
    elif value == int(value) and value > (out.rows or 0):
        # The largest count is the dataset; smaller ones describe a row ("two answers per question").
        out.rows = int(value)
        out.quotes["rows"] = quote
        if out.tokens is None or out.tokens_from_rows:  # tokens follow the rows unless stated in their own unit
            out.tokens, out.tokens_from_rows = int(value * _ROW_TOKENS[unit]), True
            out.quotes["tokens"] = quote


_BARE_MIN = 10  # a number alone below this is rarely a dataset ("nobody compared two, it's just the votes")
_DATA_VERBS = {"tagged", "labelled", "labeled", "annotated", "collected", "logged", "saved", "rated", "reviewed",
               "exported", "scored", "marked", "graded", "transcribed", "written", "answered", "gathered", "archived",
               "stored", "coded", "sorted", "classified", "categorized", "categorised"}


def _bare_count(tokens: list[str], out: Sizes, text: str) -> None:
    """"a few examples ..., maybe fifteen or so": a number standing alone in a sentence about examples, or
    said as a count the user just made ("I just counted and it's 15")."""
    counted = [i for i, t in enumerate(tokens) if t == "counted"]
    for c in counted:
        for i in range(c + 1, min(c + 6, len(tokens))):
            if tokens[i] in _NOT_ROWS or _is_hardware(tokens[i]):
                break  # "I counted the GPUs: 4"
            found = number_at(tokens, i) if _starts_number(tokens[i]) else None
            after = tokens[found[1]] if found and found[1] < len(tokens) else ""
            if found and tokens[i] not in ("a", "an", "one") and found[0] == int(found[0]) and 0 < found[0] < 1e7 \
                    and after not in _NOT_ROWS and not (after and _is_hardware(after)):
                out.rows, out.tokens = int(found[0]), int(found[0] * TOKENS_PER_ROW)
                out.quotes["rows"] = span_words(text, c, found[1])
                return
    about_data = any(t in _ROW_TOKENS or t + "s" in _ROW_TOKENS for t in tokens)
    for i, tok in enumerate(tokens):
        found = number_at(tokens, i) if _starts_number(tok) else None
        if not found or tok in ("a", "an", "one") or tok in GPU_TABLE or _not_a_count(tokens, i, found[1]):
            continue  # "3k labelled, 3090": a GPU model number is not a count; "a non preferred one" is not one row
        value, j = found
        after = tokens[j] if j < len(tokens) else "."
        then = tokens[j + 1] if j + 1 < len(tokens) else ""
        of_them = after == "of" and then in ("them", "these", "those", "this")
        # "We've tagged maybe 27,000 of them by now": the data named in an earlier message, counted by a data verb
        tagged = of_them and any(t in _DATA_VERBS for t in tokens[max(0, i - 4) : i])
        alone = after in _BREAK or after in ("or", "so") or tokens[j : j + 2] in (["by", "now"], ["in", "total"]) \
            or after in ("altogether", "total")  # "about 19k by now", "4,000 in total"
        if (about_data or tagged) and (alone or of_them) \
                and _BARE_MIN <= value < 1e7 and value == int(value) and value > (out.rows or 0):
            out.rows = int(value)  # the largest bare count: "one of them, ... around 4000" is 4000
            out.quotes["rows"] = span_words(text, i - 2, j)
            out.tokens = int(value * TOKENS_PER_ROW)


def corpus_tokens(rows: int | None, tokens: int | None, size_mb: float | None) -> int:
    """The best token estimate from what is known: stated tokens, else bytes, else rows x a short row."""
    if tokens:
        return tokens
    if size_mb:
        return int(size_mb * 1e6 / BYTES_PER_TOKEN)
    return int((rows or 0) * TOKENS_PER_ROW)


def training_rows(data: Any, objective: str, max_length: int = 2048) -> int:
    """Rows a run sees (`data` is a state's DataInfo): the stated rows, or for continued pretraining the
    token estimate cut into max_length blocks (packed), so a 4 GB corpus is sized as ~500k blocks, not 1000 rows."""
    if objective == "continued_pretraining" and (data.tokens or data.size_mb):
        return max(1, corpus_tokens(data.rows, data.tokens, data.size_mb) // max_length)
    return data.rows or 1000
