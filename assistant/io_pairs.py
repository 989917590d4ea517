"""Inputs and what people made of each, read from the words of one sentence: labelled data, not a raw corpus.

    from assistant.io_pairs import io_pairs
    io_pairs("about 40,000 invoices paired with the ledger entries our accountants made")    # True
    io_pairs("notes the superintendent rewrote into the template")                           # True
    io_pairs("We have 3,000 blog posts written by our editors")                              # False

A body of text people wrote ("posts written by our editors") is raw text; an output written FOR each input
("each lease with the summary our paralegals wrote", "tickets with their resolution codes") is a pair of
input and answer, which SFT trains on. Like the other two-part cues (assistant.cues), each reading needs
both parts in one sentence: the pairing said outright, or a making verb with its maker or its target. A
choice between candidates is preference data (cues.preference), never this. Linear walks over word tokens.
"""

from __future__ import annotations

from assistant.cues import affirmed, has_any, preference, stems, words
from assistant.sizes import ROW_NOUNS


def io_pairs(sentence: str) -> bool:
    """Inputs and what people made of each: "the OCR text plus what our clerks typed", "the emails along
    with what the agents replied", "bulletins paired with the forecast fields", "entries already coded by
    the records team", "notes the supervisor rewrote into the template". Text with its human-made output is
    labelled data, not a raw corpus. A choice between candidates is preference data, never this."""
    ws = words(affirmed(sentence))
    if not ws or preference(sentence):
        return False
    if has_any(ws, _PAIRING) or any(w in ("aligned", "parallel", "bilingual") and (i == 0 or ws[i - 1] != "in")
                                 and any(a in _ALIGNED for a in ws[i + 1 : i + 3]) for i, w in enumerate(ws)):
        return True  # "paired with the corresponding fields", "aligned sentence pairs", "parallel text"
    if any(w == "pairs" and ws[i + 1 : i + 2] == ["of"] and "and" in ws[i + 3 : i + 9] for i, w in enumerate(ws)):
        return True  # "650 pairs of tech sheet and his note"; not "2k pairs of shoes"
    if any(w == "one" and ws[i + 1 : i + 2] == ["of"] and i > 0 and ws[i - 1] in ("into", "as", "under")
           and any(e in _EACH for e in ws[max(0, i - 6) : i - 1])
           and any(stems(v) & _SORTING for v in ws[max(0, i - 8) : i - 1]) for i, w in enumerate(ws)):
        return True  # "put each into one of three piles", "sorted them as one of"; a class for every item
    if any(w == "next" and ws[i + 1 : i + 2] == ["to"] and any(k in _KEPT for k in ws[max(0, i - 6) : i])
           for i, w in enumerate(ws)):
        return True  # "we kept every packing list next to the declaration text they filed"
    if _derived_by_people(ws) or any(
            w == "with" and (ws[i - 1] in ROW_NOUNS or ws[i + 1 : i + 2] in (["their"], ["its"]))
            and any(o in _OUTPUT_NOUNS for o in ws[i + 1 : i + 4]) for i, w in enumerate(ws) if i > 0):
        return True  # "200k remarks with codes", "tickets with their resolutions"; not "help with code reviews"
    for i, w in enumerate(ws):
        # "... plus what our clerks typed"; "for each page the team wrote a summary"
        along = w == "what" and any(b in _ALONG for b in ws[max(0, i - 3) : i])
        if along and "both" in ws[max(0, i - 10) : i] and any(_person(p) for p in ws[i + 1 : i + 3]):
            return True  # "both the raw line and what they booked": any verb of theirs
        each = w in ("each", "every") and ((i > 0 and ws[i - 1] in ("for", "to", "with", "on"))
                                            or ws[i + 1 : i + 2] == ["with"])  # "lease documents, each with the summary"
        if not (along or each):
            continue
        # Someone (clerks, the team, an agent) and right after them the making verb: "what our clerks typed".
        # "for each one the text forecast that the forecaster wrote"; "for each of approximately 15,000 closed
        # claims we have the adjuster's notes and the summary that a claims supervisor subsequently wrote"
        for s in range(i + 1, min(i + 24, len(ws))):
            # "our paralegals wrote", "the forecaster wrote": whoever is named just before the making verb
            if _person(ws[s]) and any(stems(v) & _MADE_BY_PEOPLE for v in ws[s + 1 : s + 3]) and s > 0 \
                    and ws[s - 1] not in ("by", "for", "to", "from", "of"):  # the maker, not "written for the agents"
                return True
            named = ws[s - 1] in ("our", "the", "their", "his", "her", "a", "an") and ws[s].isalpha()
            if named and s + 1 < len(ws) and stems(ws[s + 1]) & _MADE_BY_PEOPLE:
                return True
    return False


# Said outright, these join an input to its output: "X paired with Y", "X matched to the Y", "pairs of X and Y".
_PAIRING = ["paired with", "paired up with", "sits next to", "sit next to", "side by side with", "paired to",
            "matched with", "matched to", "mapped to", "aligned with",
            "aligned to", "with the corresponding", "with their corresponding", "with its corresponding",
            "and the corresponding", "and their corresponding", "and its corresponding", "source and target",
            "source text and", "input and output", "inputs and outputs"]
# A change of format, not an output: "scanned and turned into text".
_FORMATS = [["text"], ["pdf"], ["pdfs"], ["digital"], ["plain"], ["csv"], ["files"], ["json"], ["html"], ["markdown"]]
_KEPT = {"kept", "keep", "keeps", "stored", "saved", "filed", "sits", "sit", "archived"}
_ALIGNED = {"pairs", "sentences", "sentence", "segments", "segment", "text", "texts", "corpus", "data", "subtitles",
            "translations", "documents", "paragraphs", "lines"}
# Verbs whose result is an output made FOR an input: a field filled in, a code assigned, a text rewritten
# into a template. "written by our researchers" or "transcribed" make a text, not an answer to one.
_DERIVE = {"fill", "code", "tag", "label", "labell", "annotate", "classify", "categorize", "categorise", "map",
           "rewrite", "rewrote", "translate", "grade", "assign", "route", "shelve", "triage", "mark"}
# Verbs that move an item somewhere: an output only with their target ("sorted into the right band", "filed
# under one of nine types", "turn it into the manual section"), never with "by" ("sorted by date").
_PLACE = {"sort", "file", "bucket", "turn", "convert", "key", "extract", "normalize", "normalise"}
# What a labelling verb puts an item into: "tagged 90k posts as one of", "routed to the right desk".
_INTO = [" as one of ", " as either ", " into one of ", " into the ", " to the right ", " to the correct ", " with the one of ",
         " with one of ", " with its ", " with their ", " that way ", " accordingly ", " under one of ", " under the "]


# What a person adds to an input, said as "<items> with <it>": a code, a label, an answer, a summary.
_OUTPUT_NOUNS = {"code", "codes", "label", "labels", "category", "categories", "tag", "tags", "class", "classes",
                 "answer", "answers", "reply", "replies", "response", "responses", "summary", "summaries",
                 "translation", "translations", "title", "titles", "correction", "corrections", "resolution",
                 "resolutions", "outcome", "outcomes", "diagnosis", "diagnoses", "verdict", "decision", "decisions"}


def _derived_by_people(ws: list[str]) -> bool:
    """"entries already coded by our records dept", "texts with those fields filled in by our dispatchers",
    "papers where grad students filled that table by hand", "notes the superintendent rewrote into the
    template": an output-making verb with its maker ("by the team", a person before it) or its target
    ("into the template", "by hand")."""
    for i, w in enumerate(ws):
        bases = stems(w)
        if bases & (_DERIVE | _PLACE) and ws[i + 1 : i + 2] in (["it"], ["them"], ["each"], ["this"], ["these"]) \
                and "into" in ws[i + 2 : i + 4]:
            return True  # "technical writers turn them into the manual section"
        if w in ("written", "drafted", "composed", "prepared") and ws[i + 1 : i + 2] == ["by"] and any(
                ws[g] in ("gets", "got", "get", "comes") and ws[g + 1 : g + 2] in (["a"], ["an"], ["its"], ["their"])
                for g in range(max(0, i - 6), i)):
            return True  # "every paper gets a plain-language blurb written by our science writers"
        if not (w.endswith(("ed", "en")) or w == "rewrote") or not (bases & (_DERIVE | _PLACE)):
            continue
        target = (any(p in f" {' '.join(ws[i + 1 : i + 9])} " for p in _INTO) or ws[i + 1 : i + 2] == ["into"]) and not (
            "into" in ws[i + 1 : i + 3] and ws[ws.index("into", i + 1) + 1 : ws.index("into", i + 1) + 2] in _FORMATS)
        if bases & _PLACE:
            if target:
                return True
            continue
        by = ws.index("by", i + 1) if "by" in ws[i + 1 : i + 4] else -1
        made_by = by > 0 and (_person(ws[by + 1] if by + 1 < len(ws) else "") or ws[by + 1 : by + 2] in (
            ["our"], ["the"], ["their"], ["a"], ["an"], ["hand"]))  # "coded by our records dept"; not "by date"
        maker = any(_person(p) for p in ws[max(0, i - 3) : i]) and w not in ("labelled", "labeled", "tagged", "coded")
        if made_by or target or maker or has_any(ws[i + 1 : i + 6], ["by hand", "manually"]):
            return True
    return False


def _person(w: str) -> bool:
    return w in _PEOPLE or w.removesuffix("s") in _PEOPLE or (
        len(w) > 4 and w.endswith(("ers", "ists", "ians", "ants", "ors", "ees")))


_EACH = {"each", "every", "all", "everything"}
_SORTING = {"put", "sort", "file", "classify", "assign", "place", "bucket", "tag", "mark", "label", "labell", "route",
            "categorize", "categorise", "triage", "code", "class"}
_ALONG = {"plus", "and", "with", "alongside", "together", "paired", "next"}
_PEOPLE = {"we", "they", "someone", "somebody", "people", "humans", "team", "staff", "agent", "clerk", "editor",
           "analyst", "engineer", "handler", "nurse", "doctor", "teacher", "reviewer", "moderator", "expert",
           "annotator", "operator", "dispatcher", "employee", "writer", "translator", "accountant", "pharmacist",
           "curator", "specialist", "technician", "lawyer", "support", "desk", "he", "she", "marketing", "sales",
           "supervisor", "manager", "adjuster", "clinician", "physician", "attorney", "paralegal", "coordinator",
           "administrator", "officer", "inspector", "auditor", "examiner", "underwriter", "rep", "secretary",
           "counselor", "counsellor", "therapist", "librarian", "archivist", "instructor", "tutor",
           "coach", "mechanic", "copywriter", "advisor", "adviser", "consultant", "planner", "surveyor", "assessor",
           "broker", "realtor", "dentist", "vet", "scientist", "researcher", "student", "volunteer", "intern",
           "judge", "owner", "author", "journalist", "chef", "pilot"}
_MADE_BY_PEOPLE = {"type", "enter", "key", "write", "wrote", "fill", "extract", "answer", "reply", "respond", "tag", "label",
                   "transcribe", "translate", "summarize", "summarise", "correct", "classify", "assign", "attach",
                   "mark", "grade", "score", "rate", "draft", "compose", "annotate"}
