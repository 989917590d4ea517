"""Meanings made of two parts, which one sentence embedding blurs: read from the words of one sentence.

    from assistant import cues
    cues.sentences("We never asked anyone to compare answers. Each reply was graded pass or fail.")
    cues.status("we were planning to collect ratings")        # "hypothetical"
    cues.preference("two drafts per ticket and the agent kept whichever was better")   # True
    cues.verdict("each answer marked usable or not usable")     # True
    cues.volatile("the menu is different each day")             # True

Why rules here, next to the embedding reader (assistant.understand): preference pairs are TWO candidates
plus a CHOICE between them; ratings are ONE output plus a VERDICT on it (good or bad, pass or fail); facts
that change are a CHANGE plus a FREQUENCY, or information pinned to NOW (today's specials, current delays).
MiniLM puts "two translations, the linguist selected the more natural one" about as near translation
pairs (0.55) as preference pairs (0.41): it hears the topic, not the structure. Each cue here needs both
parts in one sentence, which is what makes it precise; the words of each part are general English, not
the words of any one story.

A sentence's `status` says whether it states a fact about the data: "negated" (we don't have pairs) and
"hypothetical" (we were planning to, maybe someday, it was discussed) sentences describe data the user
does NOT have; what follows "just", "only" or "but" in them ("no thumbs, just 8k chats") is affirmed again.
Everything is a linear walk over word tokens (security review H1).
"""

from __future__ import annotations

import re

from assistant.sizes import MACHINE_WORDS, MAX_CHARS, ROW_NOUNS, SIZE_WORDS
from tools.vocab import GPU_TABLE

_WORD = re.compile(r"\d+(?:[.,]\d+)*|[a-z0-9]+(?:['’_-][a-z0-9]+)*|[^\sa-z0-9]", re.I)
# A sentence ends at . ! ? followed by a space (not "1.5", not a ?" inside a quote), at ; or a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|[;\n]+")
_NEGATION = {"not", "no", "never", "without", "nothing", "none", "nobody", "neither", "nor", "cannot", "zero",
             "barely", "hardly", "rarely", "seldom"}
_HYPOTHETICAL = [
    "planning to", "planned to", "plan to", "were going to", "was going to", "thought about", "thinking about",
    "thinking of", "considered", "considering", "someday", "some day", "one day", "in the future", "eventually",
    "might", "hope to", "hoping to", "would like to collect", "would like to gather", "was discussed",
    "were discussed", "was shelved", "were shelved", "shelved", "never happened", "if we had", "wish we had",
    "people tell me", "people say", "i've heard", "i heard", "i read that", "is the hot thing",
    "want to start collecting", "we'll collect", "we will collect", "we'll gather", "we could collect",
    "look into", "looked into", "looking into", "at some point", "talked about", "the idea was", "was an idea",
    # a belief the user has since corrected: "I thought we had preference pairs from that"
    "thought we had", "thought i had", "thought we'd", "assumed we had", "i assumed", "we assumed",
    "believed we had", "thought they were", "thought these were", "thought those were",
]
# "helpful or not", "yes/no", "spam or not spam" name two values; they deny nothing.
_NOT_DENIALS = (" or not ", " / not ", " whether or not ", " not only ", " not sure ", " no matter ", " yes or no ",
                " yes / no ", " no or yes ", " yes and no ", " no and yes ", " yes - no ", " or no ")
_PIVOTS = {"just", "only", "but", "instead", "rather", "however"}

# Preference pairs: several candidates, and a choice among them.
_SEVERAL = {"two", "2", "three", "3", "four", "4", "five", "5"}
_NOT_CANDIDATES = {"thousand", "hundred", "million", "k", "m", "gpus", "gpu", "cards", "categories", "classes",
                   "labels", "label", "queues", "departments", "years", "months", "weeks", "days", "hours",
                   "people", "teams", "languages", "billion", "b", "gb", "mb", "tb", "gigs", "epochs",
                   "times", "more", "less", "other", "of", "or", "and", "to", "x", "annotators", "reviewers", "raters",
                   "editors", "experts", "users", "customers", "agents", "labelers", "labellers", "judges",
                   "associates", "writers", "senior", "humans", "persons", "doctors", "lawyers", "tutors", "staff",
                   "fields", "columns", "keys", "attributes", "entities", "slots", "values", "parts", "sections",
                   "thirds", "quarters", "halves", "fifths", "percent",
                   "steps", "stages", "levels", "tiers", "types", "kinds", "buckets", "tags"}
_CANDIDATE_WORDS = ["in twos", "in pairs", "in threes", "two at a time", "side by side", "side-by-side", "matchup",
                    "versus", "vs", "the other one", "comparison", "comparisons",
                    "compared", "compare", "pairs of", "pair of", "one of two", "out of two", "of the two",
                    "better of two", "better of 2",
                    "competing", "rival", "alternatives", "alternative", "twice", "this one", "another one"]
_CHOICE_WORDS = {"pick", "picked", "picks", "picking", "chose", "choose", "chooses", "choosing", "chosen", "select",
                 "selected", "selects", "prefer", "preferred", "prefers", "preference", "preferable", "vote",
                 "voted", "votes", "voting", "rank", "ranked", "ranking", "ranks", "favour", "favor", "favoured",
                 "favored", "favourite", "favorite", "fave", "whichever", "winner", "winners", "loser", "losers",
                 "winning", "losing", "won", "lost", "rather", "circled", "circle", "ticked", "highlighted",
                 "click", "clicks", "clicked", "tap", "taps", "tapped", "swipe", "swipes", "swiped", "endorsed",
                 "endorse", "backed", "opted"}
# What "which" picks among: "indicate which version they would sign".
_CANDIDATE_NOUNS = {"version", "versions", "variant", "variants", "candidate", "candidates", "option", "options",
                    "draft", "drafts", "take", "takes"}
# What a small count may count a word later ("five response levels"): _NOT_CANDIDATES less its function words.
_COUNTED = _NOT_CANDIDATES - {"of", "or", "and", "to", "x", "more", "less", "other"}
# Comparatives that judge one candidate against another ("the explanation students understand easier").
_COMPARATIVES = {"easier", "clearer", "shorter", "simpler", "nicer", "safer", "stronger", "smoother", "kinder",
                 "friendlier", "funnier", "cleaner", "politer", "warmer", "richer", "sharper", "tighter", "superior",
                 "inferior", "preferable", "faster", "longer", "weaker", "harder", "happier", "closer"}
# "better" alone is everyone's wish ("a better model"); as a choice it has an article or a "which".
_CHOICE_PHRASES = ["which one", "which of", "which was", "which is", "which they", "over the other", "the better",
                   "kept one", "keep one", "picked one", "chose one", "best to worst", "worst to best",
                   "than the other", "instead of the other", "put them in order", "order of preference",
                   "out the other", "threw the other", "throws the other", "dropped the other", "drops the other",
                   "spiked the other", "binned the other", "bins the other", "discards the other", "rejected the other",
                   "tossed the other", "deleted the other", "scrapped the other",
                   "the worse", "better one", "more ", "less ", "the one that", "the one they", "the one which",
                   "the one we", "the one people", "the one users", "the one he", "the one she", "superior one",
                   "inferior one", "preferable one", "this one", "the one to"]
# "which preview was better", "which summary read best": a choice whatever the candidates' noun.
_WHICH_BETTER = _COMPARATIVES | {"better", "best", "worse", "worst", "preferred", "stronger", "more", "less"}
# ... but "which model is best for us" is the user's own question about the project, not a choice in the data.
_OWN_CHOICES = {"model", "models", "base", "method", "methods", "approach", "technique", "gpu", "gpus", "machine",
                "hardware", "way", "setup", "settings", "size", "llm", "llms", "provider", "vendor", "one", "option"}
# Said alone, these already mean two candidates and a choice.
_PAIRED = ["pairwise", "head-to-head", "head to head", "a / b", "y_w", "y_l", "bake-off",
           "bake off", "over the other", "matchups", "in favour of another", "in favor of another",
           "in favour of the other", "in favor of the other", "over another", "instead of the other",
           "this one , not that one", "this one not that one"]

# Ratings: one output, and a verdict on it.
_OUTPUTS = {"answer", "answers", "reply", "replies", "replys", "response", "responses", "output", "outputs",
            "completion", "completions", "draft", "drafts", "generation", "generations", "suggestion",
            "suggestions", "bot", "chatbot", "model's", "bot's", "translation", "translations", "summary",
            "summaries", "caption", "captions", "rewrite", "rewrites", "explanation", "explanations", "generated"}
# A comment is someone's text ("comments tagged toxic or not" is a label set) unless its quality is judged:
# "the developer resolves each review comment as useful or marks it not useful".
_COMMENTS = {"comment", "comments"}
_QUALITY = {"useful", "useless", "helpful", "unhelpful", "accurate", "inaccurate", "usable", "unusable"}
_GOOD = {"let", "lets", "allow", "allows", "allowed", "good", "pass", "passed", "correct", "right", "accepted", "accept",
         "approve", "approved", "helpful",
         "acceptable", "usable", "useful", "resolved", "solved", "yes", "like", "liked", "up", "ok", "okay",
         "fine", "kept", "keep", "positive", "helped", "helps", "worked", "works", "publish", "published", "ship",
         "shipped", "send", "sent", "use", "used", "sign", "signed", "clear", "cleared", "okayed", "ok'd",
         "greenlit", "greenlighted", "release", "released", "post", "posted"}
_BAD = {"bad", "fail", "failed", "incorrect", "wrong", "rejected", "reject", "unhelpful", "unacceptable",
        "unusable", "useless", "unresolved", "no", "not", "dislike", "disliked", "down", "threw", "thrown",
        "discarded", "deleted", "binned", "poor", "negative", "withhold", "withheld", "drop", "dropped", "scrap",
        "scrapped", "discard", "hold", "held", "decline", "declined", "trash", "trashed", "bin", "bounce",
        "bounced", "kill", "killed", "spike", "spiked", "toss", "tossed", "junk", "junked", "remove", "removed", "block",
        "blocks", "blocked", "stop", "stops", "stopped", "cross", "crossed", "strike", "struck", "veto", "vetoed",
        "nix", "nixed", "canned", "refuse", "refused", "return", "returned", "kick", "kicked", "nope", "nah",
        "dismiss", "dismisses", "dismissed", "flag", "flags", "flagged", "needs"}  # "good" or "needs fix"
# A verdict pair ("yes or no") is about an output only when someone gives it: "a bot that answers yes or no
# questions" is not a rating.
_JUDGED = {"marked", "markd", "mark", "marks", "flagged", "flag", "flags", "graded", "grade", "scored", "score",
           "labelled", "labeled", "tagged", "rated", "judged", "annotated", "reviewed", "evaluated", "assessed",
           "as", "whether", "said", "say", "says", "gave", "give", "put", "set", "clicked", "click", "pressed",
           "outcome", "feedback", "survey", "verdict", "either", "press", "presses", "tap", "taps", "tapped",
           "ticked", "tick", "choose", "pick", "vote", "votes", "audited", "checked", "tag", "tags",
           "label", "labels", "judgement", "judgment", "assessment", "review", "reviewer's", "decision", "decided",
           "wrote", "chose", "picked", "reviews", "checks", "audits"}
_VERDICT_WORDS = {"marked", "flagged", "graded", "scored", "judged", "approve", "approved", "reject", "rejected",
                  "accepted", "acceptable", "unacceptable", "helpful", "unhelpful", "useful", "useless", "usable",
                  "unusable", "pass", "fail", "failed", "passed", "good", "bad", "correct", "incorrect", "wrong",
                  "satisfied", "satisfaction", "solved", "resolved", "feedback", "liked", "disliked", "score",
                  "scores", "verdict", "verdicts", "approval", "accurate", "inaccurate"}
_RATING_WORDS = {"frowny", "thumbs", "thumb", "upvote", "upvotes", "downvote", "downvotes", "stars", "rating", "ratings",
                 "👍",
                 "👎", "likes", "dislikes", "heart", "hearts", "reactions", "smiley", "smileys"}
# An emoji is a rating only when someone gives it to an output ("reacted with a 👍 emoji", "emoji reactions");
# "stop using emojis" is about the text.
_EMOJI = {"emoji", "emojis"}
_GIVEN = {"react", "reacts", "reacted", "reaction", "reactions", "gave", "give", "gives", "add", "adds", "added", "put",
          "puts", "gets", "got", "attach", "attaches", "tap", "taps", "tapped", "click", "clicked", "thumbs", "thumb",
          "heart", "rated"}
# As verbs, these rate a dataset only when they go over it: "every reply was rated", "rated by users";
# "we rated our bot's answers as meh" is an opinion.
_RATING_VERBS = {"rated", "graded", "scored", "upvoted", "downvoted"}
_OVER = {"each", "every", "all", "per", "by"}

# Facts that change: a change and a frequency, or information pinned to now.
_CHANGE = {"change", "changes", "changed", "changing", "update", "updates", "updated", "updating", "revise",
           "revised", "revises", "refresh", "refreshes", "refreshed", "move", "moves", "moving", "shift",
           "shifts", "vary", "varies", "fluctuate", "fluctuates", "different", "differs", "rotate", "rotates",
           "expire", "expires", "cancelled", "canceled", "reset", "resets", "adjusted", "adjust", "adjusts",
           "trending", "trends", "fluctuating", "replaced", "rotated", "progress", "progresses", "evolve",
           "evolves", "develops", "amend", "amends", "amended", "amending", "amendments", "switch", "switches",
           "switched", "swap", "swaps", "swapped", "rewritten", "reissued", "repriced", "renegotiated", "overhauled"}
_CHANGE_STEMS = {"change", "update", "revise", "refresh", "shift", "vary", "fluctuate", "rotate", "expire", "reset",
                 "adjust", "replace", "evolve", "amend", "switch", "swap", "rewrite", "reissue", "reprice", "edit",
                 "modify", "alter", "renegotiate", "overhaul", "redo", "rework", "republish"}
_FREQUENT = {"hourly", "daily", "nightly", "weekly", "monthly", "fortnightly", "biweekly", "constantly",
             "continuously", "frequently", "often", "regularly", "routinely", "periodically", "realtime", "real-time",
             "intraday"}
_PERIODS = {"minute", "hour", "day", "night", "morning", "evening", "week", "weekend", "month", "game", "match",
            "shift", "season", "release", "few", "couple", "other", "sprint", "quarter", "cycle", "monday",
            "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "weekday", "round", "race",
            "renewal", "term", "semester", "year", "audit", "tender", "budget", "version", "shipment", "batch",
            "meeting", "sitting", "hearing", "edition"}
_NOW = {"today", "today's", "tonight", "tonight's", "current", "present", "latest", "live", "breaking", "realtime",
        "real-time", "up-to-date", "up-to-the-minute", "trending", "intraday"}
_NOW_PHRASES = ["this week", "this week's", "this weekend", "this month", "this month's", "this hour", "this morning",
                "this season's", "up to date", "as of now"]
# "right now" is the state of the world in a question ("which flights are delayed right now") and the
# user's own state in a statement ("right now we have 5k chats").
_NOW_ASKED = ["right now", "at the moment", "currently", "at this moment", "just now", "tonight", "today",
              "this morning", "this afternoon", "this evening",
              "this weekend", "this week", "at any moment", "at any time", "at any given moment"]
_ASKING = {"what", "what's", "which", "how", "whether", "when", "where", "who", "is", "are"}
# Things whose value is a moving fact. Not "results", "version", "rate": "our current results/version/error
# rate" is about the user's model, not the world.
_VOLATILE = {"weather", "price", "prices", "pricing", "rates", "stock", "stocks", "inventory", "availability",
             "delays", "delay", "schedule", "schedules", "timetable", "programme", "menu", "specials",
             "standings", "news", "headlines", "traffic", "status", "openings", "vacancies", "promotions",
             "promotion", "offers", "deals", "closures", "events", "fixtures", "balance", "balances", "figures",
             "occupancy", "seats", "rooms", "exchange", "queue", "queues", "waiting", "wait", "levels", "conditions",
             "sale", "sales", "collection", "lineup", "line-up", "matrix", "parking", "tides", "tide", "outages",
             "incidents", "shortages", "departures", "arrivals", "tracking"}


def words(text: str) -> list[str]:
    """Lower-case word tokens; a long word one typo away from a cue word is read as that word ("prefered"),
    and a negation typed without its apostrophe as the negation ("dont", "havent")."""
    return [_spelled(w.lower().replace("’", "'")) for w in _WORD.findall(text[:MAX_CHARS])]


# Chat users drop the apostrophe: "we dont have any" denies as much as "we don't". "cant" and "wont" are
# words of their own, but almost never in a chat about data. "evry" is the one short cue word typed short
# often enough to matter ("those change evry term"); short words are otherwise left alone (see _spelled).
_UNAPOSTROPHED = {w: w[:-2] + "n't" for w in ("dont", "doesnt", "didnt", "havent", "hasnt", "hadnt", "isnt", "arent",
                                              "wasnt", "werent", "couldnt", "wouldnt", "shouldnt", "cant", "wont")}
_SHORT_TYPOS = {**_UNAPOSTROPHED, "evry": "every", "evrey": "every", "eveyr": "every", "nevr": "never"}


def _spelled(word: str) -> str:
    if word in _SHORT_TYPOS:
        return _SHORT_TYPOS[word]
    if len(word) < 7 or word in _VOCAB or not word.isalpha():
        return word  # short words are too close to each other to guess ("bat", "bad")
    if word in _TYPO:
        return _TYPO[word]  # a letter left out: "prefered"
    for i in range(len(word)):  # a letter too many: "momment"
        if word[:i] + word[i + 1 :] in _VOCAB:
            return word[:i] + word[i + 1 :]
    return word


def _typo_table(vocab: set[str]) -> dict[str, str]:
    """Each cue word with one letter left out -> the cue word. Only a missing or an extra letter is read as a
    typo: a changed letter makes other real words ("reviews" is not "revises"). A variant two cue words share
    is dropped: no guessing."""
    table: dict[str, str] = {}
    clash: set[str] = set()
    for word in (w for w in vocab if len(w) >= 7 and w.isalpha()):
        for variant in {word[:i] + word[i + 1 :] for i in range(len(word))}:
            if table.get(variant, word) != word:
                clash.add(variant)
            table[variant] = word
    return {k: v for k, v in table.items() if k not in clash and k not in vocab}


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text[:MAX_CHARS]) if s and s.strip()]


def has_any(ws: list[str], phrases: list[str]) -> bool:
    joined = f" {' '.join(ws)} "
    return any(f" {p} " in joined or (p.endswith(" ") and f" {p}" in joined) for p in phrases)


# A quoted label ("that didn't help", 'not useful') is mentioned, not said: it denies nothing. An apostrophe
# inside a word ("didn't") doesn't end a single-quoted span. Spans are bounded: linear time.
QUOTED = re.compile(r"\"[^\"\n]{0,120}\"|“[^”\n]{0,120}”|(?<!\w)'(?:[^'\n]|(?<=\w)'(?=\w)){1,60}'(?!\w)")


def _negated(ws: list[str]) -> bool:
    joined = f" {' '.join(ws)} "
    for said in _NOT_DENIALS:
        joined = joined.replace(said, " ")
    return any(_denial(w) for w in joined.split())


def _denial(w: str) -> bool:
    return w in _NEGATION or w.endswith("n't")


def denies(text: str) -> bool:
    """Does the text deny something? "acceptable or not acceptable", "yes and no buttons", "not only" and a
    quoted button label ("that didn't help") don't."""
    return _negated(words(QUOTED.sub(" ", text)))


# What a denial of a layout names: "there are no ratings", "they're not pairs", "no alternative to compare against".
_PAIR_NAMES = {"pairs", "comparisons", "side-by-side", "alternative", "alternatives"}
_RATING_NAMES = {"ratings", "rating", "scores", "stars", "thumbs", "grades"}
_BETWEEN = {"any", "a", "real", "actual", "such"}  # "there aren't any ratings", "no real pairs"
_PARTIAL = {"for", "on", "from", "in", "of", "yet"}  # "no scores for the old replies": some data has them


def denied_layouts(text: str) -> set[str]:
    """The two-part layouts a message says the data is NOT ("scratch that, there are no ratings" -> {"ratings"};
    "no alternative comment to compare against" -> {"pairs"}): a negation within three words before the
    name, with only "any" or "a" between ("don't have any pairs"). "the ratings are not great", "we don't just
    have ratings", "no scores for the old replies" deny nothing; "no thumbs down" is a value of a rating."""
    out = set()
    for sentence in sentences(QUOTED.sub(" ", text)):
        joined = f" {' '.join(words(sentence))} "
        for said in _NOT_DENIALS:
            joined = joined.replace(said, " ")
        ws = joined.split()
        for i, w in enumerate(ws):
            second = w == "second" and i + 1 < len(ws) and ws[i + 1] in _OUTPUTS  # "there's no second answer"
            kind = "pairs" if w in _PAIR_NAMES or second else "ratings" if w in _RATING_NAMES else None
            if not kind or (i + 1 < len(ws) and ws[i + 1] in _PARTIAL | {"up", "down"}):
                continue
            j = i - 1
            while j >= 0 and ws[j] in _BETWEEN:
                j -= 1
            if j >= 0 and (_denial(ws[j]) or (ws[j] in ("have", "got") and j > 0 and _denial(ws[j - 1]))):
                out.add(kind)  # "there are no ratings", "we don't have pairs"; not "we don't just have ratings"
    return out


def status(sentence: str) -> str:
    """"affirmed", "negated" or "hypothetical": does the sentence state something the user has?"""
    ws = words(QUOTED.sub(" ", sentence))
    if has_any(ws, _HYPOTHETICAL):
        return "hypothetical"
    return "negated" if _negated(ws) else "affirmed"


def affirmed(sentence: str) -> str:
    """The part of the sentence that states a fact: all of it, the part after a pivot ("no thumbs, JUST 8k
    chats"; "we meant to collect ratings BUT only have chats"), or nothing."""
    if status(sentence) == "affirmed":
        return sentence
    ws = _WORD.findall(sentence[:MAX_CHARS])
    for i in range(len(ws) - 1, 0, -1):
        if ws[i].lower() in _PIVOTS:
            tail = " ".join(ws[i + 1 :])
            return tail if tail and status(tail) == "affirmed" else ""
    return ""


def _without_wishes(ws: list[str]) -> list[str]:
    """Drop the user's own wish ("I'd rather it took longer", "we would prefer a small model"): a choice the
    user makes about the project, not one made between candidate answers in the data."""
    out = []
    for i, w in enumerate(ws):
        prev = ws[i - 1] if i > 0 else ""
        # Only a modal makes it a wish: "we pick one" (a labeller's choice) stays a choice.
        wish = w in _WISHED and (prev in ("i'd", "we'd", "id", "wed") or (prev in ("i", "we") and w == "rather") or (
            i > 1 and prev == "would" and ws[i - 2] in ("i", "we")))  # fmt: skip
        if not wish:
            out.append(w)
    return out


_WISHED = {"rather", "prefer", "choose", "pick", "favour", "favor", "opt"}


def preference(sentence: str) -> bool:
    """Two or more candidates and a choice among them, in one affirmed sentence."""
    ws = _without_wishes(words(affirmed(sentence)))
    if not ws:
        return False
    if has_any(ws, _PAIRED):
        return True
    several = has_any(ws, _CANDIDATE_WORDS) or _a_and_b(ws) or _several(ws)
    if _good_and_bad(ws):
        return True
    chose = any(w in _CHOICE_WORDS or w in _COMPARATIVES for w in ws) or has_any(ws, _CHOICE_PHRASES) or any(
        has_any(ws[i : i + 3], _KEEP_ONE) and ws[i + 2 : i + 3] == ["of"] for i in range(len(ws))) or any(
        w == "which" and i + 1 < len(ws) and (ws[i + 1] in _OUTPUTS or ws[i + 1] in _CANDIDATE_NOUNS
                                               or (ws[i + 1] not in _OWN_CHOICES and any(c in _WHICH_BETTER for c in ws[i + 2 : i + 5])))
        for i, w in enumerate(ws)) or any(
        w.endswith("er") and w not in ("other", "another") and i + 1 < len(ws) and ws[i + 1] == "one"
        for i, w in enumerate(ws))  # "the better one", "the shorter one"; not "the other one"
    return several and chose


_GOOD_ONE = {"good", "correct", "correctly", "right", "preferred", "better", "chosen", "accepted", "winning",
             "best", "approved", "working", "successful", "valid", "strong", "stronger", "superior", "favoured",
             "favored", "kept", "selected", "picked", "liked", "upvoted"}
_BAD_ONE = {"bad", "incorrect", "wrong", "rejected", "worse", "losing", "worst", "failing", "failed", "broken",
            "invalid", "poor", "weak", "weaker", "inferior", "declined", "refused", "dismissed", "discarded",
            "dispreferred", "unpreferred", "disliked", "downvoted", "losers"}


def _bad_one(ws: list[str], i: int) -> bool:
    """ws[i] names the worse candidate: "a weak answer", "a non preferred one", "a not accepted reply"."""
    return ws[i] in _BAD_ONE or (i > 0 and ws[i - 1] in ("non", "not", "less", "un") and ws[i] in _GOOD_ONE) or (
        ws[i].startswith(("non-", "un", "dis")) and ws[i].split("-")[-1].removeprefix("un").removeprefix("dis") in _GOOD_ONE)


def _good_and_bad(ws: list[str]) -> bool:
    """"a correct extraction AND an incorrect one", "the bad response and the clinician's better one": two
    candidates, one good one bad, in either order (with "or" it is a verdict on one). The article after "and"
    keeps "good and bad reviews" (a label set) out."""
    for i, w in enumerate(ws):
        article = i + 1 < len(ws) and ws[i + 1] in ("a", "an", "one", "the")
        if w == "and" and article and any(g in _GOOD_ONE for g in ws[max(0, i - 6) : i]) \
                and any(_bad_one(ws, j) for j in range(i + 1, min(i + 5, len(ws)))):
            return True
        if w == "and" and article and any(_bad_one(ws, j) for j in range(max(0, i - 6), i)) \
                and any(g in _GOOD_ONE and g != "right" for g in ws[i + 1 : i + 5]):
            return True
        # "good vs bad completion": said as a contrast, never a label set.
        if w in ("vs", "versus") and 0 < i < len(ws) - 1 and ws[i - 1] in _GOOD_ONE and _bad_one(ws, i + 1):
            return True
        # "better answer, worse answer", "good response, then bad response": one noun, a good and a bad of it.
        if w in _GOOD_ONE and i + 1 < len(ws) and ws[i + 1].isalpha() and any(
                _bad_one(ws, j) and j + 1 < len(ws) and ws[j + 1] == ws[i + 1] for j in range(i + 2, min(i + 6, len(ws)))):
            return True
    return _kept_and_tossed(ws)


_SOMEONE = {"i", "we", "they", "he", "she", "you", "people", "users", "someone"}
_DROPPED = {"tossed", "binned", "dropped", "skipped", "ignored", "scrapped", "trashed", "deleted", "ditched", "rejected",
            "discarded", "threw", "cut"}


def _kept_and_tossed(ws: list[str]) -> bool:
    """"the line I kept, the line I tossed": one noun, once with a keeping verb and once with a dropping one."""
    kept, tossed = set(), set()
    for i in range(len(ws) - 3):
        if ws[i] == "the" and ws[i + 1].isalpha() and ws[i + 2] in _SOMEONE:
            verb = ws[i + 3]
            if verb in _GOOD_ONE or verb in ("kept", "chose", "used", "took", "accepted", "sent"):
                kept.add(ws[i + 1])
            elif _bad_one(ws, i + 3) or verb in _DROPPED:
                tossed.add(ws[i + 1])
    return bool(kept & tossed)


def _several(ws: list[str]) -> bool:
    """"two drafts", "3 sampled replies": a small count of things, not of GPUs, labels or people ("five
    response levels" counts levels: the noun may come a word later)."""
    return any(w in _SEVERAL and i + 1 < len(ws) and ws[i + 1] not in _NOT_CANDIDATES and ws[i + 1][0].isalpha()
               and not (i + 2 < len(ws) and ws[i + 2] in _COUNTED) for i, w in enumerate(ws)) or any(
        w in _SEVERAL and ws[i + 1 : i + 2] in (["and"], [","]) and has_any(ws[i + 2 : i + 7], _KEEP_ONE)
        for i, w in enumerate(ws))  # "I always get two and I keep one"


# Keeping one of several: "I always get two and I keep one"; as a choice alone only with "of": "sends one of them".
_KEEP_ONE = ["keep one", "kept one", "pick one", "picked one", "choose one", "chose one", "take one", "took one",
             "send one", "sends one", "sent one", "post one", "posts one", "posted one", "keeps one", "picks one",
             "chooses one"]


def _a_and_b(ws: list[str]) -> bool:
    """"answer A and answer B", "option a / b": two candidates by letter."""
    return any(w == "b" and "a" in ws[max(0, i - 4) : i] for i, w in enumerate(ws))


def _opposites(a: str, b: str) -> bool:
    """"good or bad", "usable or unusable", "compliant / non-compliant", "relevant or irrelevant"."""
    if stems(a) & _GOOD and (stems(b) & _BAD or b.startswith("un")):
        return True  # "approves it or bins it": any inflection of a verdict word
    return len(a) > 3 and b != a and b.endswith(a) and b[: len(b) - len(a)].rstrip("-") in ("un", "non", "in", "im", "ir", "il", "dis")


_RATING_STEMS = {"rate", "grade", "score", "upvote", "downvote", "star"}


def _rating_verb(ws: list[str], i: int) -> bool:
    """"rated", "scoring", or "score/rate" with its object ("score each headline"); the nouns ("the error rate",
    "a high score") are no rating given."""
    w = ws[i]
    if w in _RATING_VERBS or (w.endswith(("ed", "ing")) and stems(w) & _RATING_STEMS):
        return True
    return w in ("rate", "rates", "score", "scores", "grade", "grades") and i + 1 < len(ws) and ws[i + 1] in (
        "each", "every", "all", "the", "our", "its", "their", "them", "it", "every")


def _scale(ws: list[str]) -> bool:
    """"from 1 to 5", "out of 10", "on a 1-5 scale"."""
    return any((w in ("from", "out") and any(t[0].isdigit() for t in ws[j + 1 : j + 3]))
               or (w == "scale" and j > 0 and ws[j - 1][0].isdigit()) for j, w in enumerate(ws))


def verdict(sentence: str) -> bool:
    """One output and a verdict on it (good or bad, pass/fail, thumbs, stars), in one affirmed sentence."""
    ws = [w for w in words(affirmed(sentence)) if w not in _QUOTES]  # "that helped" or "that didn't help"
    if not _about_outputs(ws):
        return False
    if any(w in _RATING_WORDS or (w in _EMOJI and any(g in _GIVEN for g in ws[max(0, i - 6) : i + 3]))
           for i, w in enumerate(ws)) or _emoji_pair(ws) or has_any(ws, _FACES):
        return True
    if any(_rating_verb(ws, i) and (any(o in _OVER for o in ws[i + 1 : i + 4] + ws[max(0, i - 3) : i])
                                    or (i + 1 < len(ws) and ws[i + 1][0].isdigit()) or _scale(ws[i + 1 : i + 9]))
           for i in range(len(ws))):
        return True  # "every reply was rated", "rated by users", "scored 1-5", "score each one from 1 to 5"
    for i, w in enumerate(ws):
        if w == "and" and i > 1 and ws[i - 1 : i] == ["yes"] and ws[i + 1 : i + 2] == ["no"] and any(
                v in _VERDICT_WORDS or v == "?" for v in ws[max(0, i - 10) : i]) and any(
                b in ("buttons", "button", "options", "boxes", "box", "toggle", "choices", "clicks") for b in ws[i + 2 : i + 5]):
            return True  # '"Was this accurate?" with yes and no buttons': a question about the output
        if w not in ("or", "/"):
            continue
        before, after = ws[max(0, i - 4) : i], ws[i + 1 : i + 3]  # "approve it as is or reject it"
        either = [j for j in range(max(0, i - 10), i) if ws[j] == "either"]
        if either:  # "either sent it as it was or binned it": everything since "either" is the first side
            before = ws[either[-1] + 1 : i]
        judged = bool(either) or _judging(ws[max(0, i - 8) : i + 10])  # "either lets it through or blocks it"
        denied = any(_denial(a) for a in ws[i + 1 : i + 4])
        if judged and (any(_opposites(b, a) for b in before for a in after) or (
                denied and any(b in _GOOD or b in ws[i + 1 : i + 5] for b in before))):
            return True
        if w == "or" and "whether" in ws[max(0, i - 8) : i] and any(b in _GOOD | _BAD for b in ws[i - 6 : i + 3]):
            return True
        # "asks 'was this helpful?' yes or no": a quality word asked about, answered with two opposites.
        if any(_opposites(b, a) for b in before[-1:] for a in after[:1]) and any(
                v in _VERDICT_WORDS for v in ws[max(0, i - 8) : i + 3]):
            return True
    return "whether" in ws and any(w in ("solved", "helped", "worked", "resolved") for w in ws)


_QUOTES = {'"', "“", "”", "'", "«", "»"}
_FACES = ["happy face", "sad face", "smiley face", "frowning face", "happy and sad", "green and red button"]


def _about_outputs(ws: list[str]) -> bool:
    """Something a model or a person produced is being judged ("replies", "AI-generated descriptions", "the
    app writes a post-match insight")."""
    return any(w in _OUTPUTS or w.rsplit("-", 1)[-1] in _OUTPUTS or (stems(w) | stems(w.rsplit("-", 1)[-1])) & _PRODUCES
               for w in ws) or (  # "AI-drafted", "AI-suggested": the maker's verb after the hyphen
        any(w in _COMMENTS for w in ws) and any(w in _QUALITY for w in ws))


# Verbs of making an output: what "the app writes / generates / suggests" is an output, whatever its noun.
_PRODUCES = {"write", "generate", "produce", "draft", "suggest", "compose", "summarize", "summarise", "translate",
             "answer", "reply", "respond", "predict", "autocomplete", "autofill", "wrote", "written"}


def stems(word: str) -> set[str]:
    """The bases a word may inflect ("clicks", "writes", "tapped", "approved", "reviewing" -> click, write,
    tap, approve, review), the word itself included; a set, so no guess has to be right alone."""
    out = {word}
    if word.endswith(("ied", "ies")) and len(word) > 4:
        out.add(word[:-3] + "y")  # replied -> reply, classifies -> classify
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            base = word[: -len(suffix)]
            out |= {base, base + "e"} if suffix in ("ing", "ed") else {base}
            if suffix in ("ing", "ed") and len(base) > 2 and base[-1] == base[-2]:
                out.add(base[:-1])  # tapped -> tap, flagged -> flag
    return out


def _judging(ws: list[str]) -> bool:
    return any(w in _JUDGED or stems(w) & _JUDGED_STEMS for w in ws)


_JUDGED_STEMS = {"mark", "flag", "grade", "score", "label", "tag", "rate", "judge", "annotate", "review", "evaluate",
                 "assess", "click", "press", "tap", "tick", "vote", "audit", "check", "decide", "approve", "reject",
                 "verify", "confirm", "moderate", "sign", "hit"}


def _emoji_pair(ws: list[str]) -> bool:
    return any(len(a) == 1 and not a.isascii() and sep in ("/", "or") and len(b) == 1 and not b.isascii()
               for a, sep, b in zip(ws, ws[1:], ws[2:], strict=False))


def volatile(sentence: str) -> bool:
    """Information that changes: a change word with a frequency, or a changing thing pinned to now."""
    ws = words(affirmed(sentence))
    if not ws:
        return False
    changes = any(_changes(ws, i) for i in range(len(ws))) or has_any(
        ws, ["is new", "are new", "'s new", "is different", "come and go", "turn over", "turns over", "turned over"])
    frequent = any(w in _FREQUENT for w in ws) or has_any(ws, [
        "all day", "all the time", "by the minute", "by the hour", "times a day", "times per day", "day to day",
        "week to week", "day by day", "to the next", "every few", "minute to minute", "hour to hour",
        "by the second"]) or _times_per(ws) or _period_by_period(ws) or any(
        w in ("most", "many", "some", "all") and i + 1 < len(ws) and ws[i + 1].endswith("s")
        and ws[i + 1].removesuffix("s") in _PERIODS - {"other", "few", "couple"} for i, w in enumerate(ws)) or any(
        w in ("every", "each") and i + 1 < len(ws) and (ws[i + 1] in _PERIODS or ws[i + 1].rstrip("s") in _PERIODS
                                                         or ws[i + 1].isdigit() or ws[i + 1] in _FEW
                                                         or ws[i + 2 : i + 3] in ([p] for p in _PERIODS))
        for i, w in enumerate(ws))  # "every two weeks", "each 3 days", "every council meeting"
    if _supplied_elsewhere(ws):
        return False  # "live fares come separately from our booking system": the model needn't hold them
    if changes and frequent:
        return True
    for i, w in enumerate(ws):
        now = w in _NOW or has_any(ws[i : i + 3], _NOW_PHRASES)
        if now and (w in ("today's", "tonight's", "up-to-the-minute", "trending", "intraday") or any(
                v in _VOLATILE for v in ws[max(0, i - 4) : i + 5])):
            return True
        if has_any(ws[i : i + 3], _NOW_ASKED) and any(q in _ASKING and ws[j + 1 : j + 2] != ["to"]
                                                   for j, q in enumerate(ws[max(0, i - 12) : i], max(0, i - 12))):
            return True  # "which flights are late right now"; not "what to work on this week" (a plan)
        if w == "now" and _asked_about_the_world(ws[max(0, i - 8) : i], "?" in ws):
            return True  # "where is my package now"; not "what can we do now"
        if w == "live" and any(v in ("results", "scores", "updates", "feed", "data") for v in ws[i + 1 : i + 4]):
            return True
    return False


_FEW = {"two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve", "couple", "few", "other"}
# The moving facts reach the model from a system at answer time: "fares will be supplied separately through
# our booking system", "stock is pulled from the API". Then a fine-tune only has to learn the conversation.
_SUPPLY = {"supplied", "supply", "provided", "provide", "fed", "feed", "feeds", "pulled", "pull", "pulls", "fetched",
           "fetch", "fetches", "injected", "inject", "passed", "plugged", "piped", "retrieved", "looked", "lookup"}
_SYSTEM = {"system", "systems", "api", "apis", "database", "db", "integration", "plugin", "tool", "tools", "backend"}


def _supplied_elsewhere(ws: list[str]) -> bool:
    """A supply verb, then "separately", retrieval, or "from / through / via / by" a system ("feed our pricing
    database into the model" supplies the model's training, not its answers)."""
    for i, w in enumerate(ws):
        if w not in _SUPPLY:
            continue
        after = ws[i + 1 : i + 9]
        if any(t in ("separately", "retrieval", "rag") for t in after) or any(
                t in _SYSTEM and any(p in ("from", "through", "via", "by") for p in after[max(0, k - 4) : k])
                for k, t in enumerate(after)):
            return True
    return False


_ASK_VERBS = {"ask", "asks", "asked", "asking", "know", "knows", "tell", "tells", "check", "checks", "find", "wonder", "answer",
              "answers", "answering", "reply", "replies",
              "wonders", "see", "want", "wants", "need", "needs", "question", "questions", "enquire", "inquire"}


def _changes(ws: list[str], i: int) -> bool:
    """ws[i] is a word of change, and not a period named by one ("each shift", "the next shift")."""
    w = ws[i]
    if not (w in _CHANGE or stems(w) & _CHANGE_STEMS):
        return False
    if any(m in ("model", "models", "weights", "adapter", "adapters") for m in ws[i + 1 : i + 4]):
        return False  # "we update the model monthly": the user's own model, not the facts it answers about
    if w.rstrip("s") in _PERIODS:  # "shift" names a period far more often ("shift supervisors", "each shift")
        after = ws[i + 1] if i + 1 < len(ws) else ""
        return after in _FREQUENT or after in _PERIODS or after in ("every", "each", "all", "around", "by", "from")
    return True


def _period_by_period(ws: list[str]) -> bool:
    """"minute by minute", "week to week", "shift after shift", "season on season"."""
    return any(a == b and (a in _PERIODS or a.rstrip("s") in _PERIODS) and by in ("by", "to", "after", "on")
               for a, by, b in zip(ws, ws[1:], ws[2:], strict=False))


def _times_per(ws: list[str]) -> bool:
    """"three times this quarter", "twice a month", "2x per week": a repeated change within a period."""
    for i, w in enumerate(ws):
        repeated = w in ("twice", "thrice") or (w in ("times", "x") and i > 0 and (
            ws[i - 1][0].isdigit() or ws[i - 1] in ("two", "three", "four", "five", "six", "several", "many", "few")))
        if repeated and any(p in _PERIODS or p.rstrip("s") in _PERIODS for p in ws[i + 1 : i + 4]):
            return True
    return False


def _asked_about_the_world(before: list[str], question: bool) -> bool:
    """"where is my package now", "customers ask which trains run late now"; "this is now 3,000 codes" and "we
    log which was sent, 19k by now" state, they ask nothing: outside a question an asking word asks only after
    a verb of asking."""
    asked = [j for j, q in enumerate(before) if q in _ASKING and (question or (q not in ("is", "are") and (
        any(v in _ASK_VERBS for v in before[max(0, j - 3) : j]) or (j > 0 and before[j - 1] in (":", '"', "“"))
        or (j == 0 and len(before) < 8))))]  # "Typical message: what is the gold price now"
    return bool(asked) and not any(w in ("we", "i", "us", "me", "my", "our", "you") for w in before[asked[-1] :])



# Raw text is a body of writing, named as such or by its size; "applications with the note the underwriter
# wrote" is not, however near "reports as plain text" it sits.
_RAW = {"corpus", "corpora", "documents", "docs", "articles", "pages", "papers", "books", "tokens", "words", "raw",
        "plain", "dump", "archive", "archives", "scraped", "crawl", "crawled", "wiki", "posts", "transcripts",
        "gb", "mb", "tb", "gigs", "megabytes", "gigabytes", "terabytes", "filings", "reports", "manuals",
        "abstracts", "newsletters", "poems", "stories", "memos", "textbooks", "literature", "prose", "writings",
        "blogs", "forum", "forums", "novels", "essays", "letters", "notes", "logs"}
_RAW_PHRASES = ["no labels", "no label", "without labels", "without any label", "never labelled", "never labeled",
                "no annotation", "no annotations", "nothing annotated", "only text", "just text", "just the text"]


_MACHINES = MACHINE_WORDS | SIZE_WORDS | {"laptops", "macbooks", "cluster", "node", "nodes", "server", "servers"}


def names_hardware(clause: str) -> bool:
    """Does the clause talk about a machine ("a desktop with a twelve gigabyte card", "MacBooks", "8x H100")?"""
    return any(w in _MACHINES or w in GPU_TABLE or (w[:1].isalpha() and w[1:].isdigit() and len(w) > 2)
               for w in words(clause))


def names_data(clause: str) -> bool:
    """Does the clause name data ("labelled tickets", "5k chats", "raw text", "thumbs")?"""
    return any(w in ROW_NOUNS or (w in _RAW and w not in SIZE_WORDS) or w in _RATING_WORDS
               or w.startswith(("label", "pair", "data", "text")) for w in words(clause))


def hints(text: str, affirmed_text: str | None = None) -> set[str]:
    """Half of a two-part meaning anywhere in `text`: "pairs" (candidates or a choice), "ratings" (a verdict
    word, about an output), "raw" (a body of text), "changes" (a word of change or time). Pairs and ratings are read from `affirmed_text` (what
    the user says they have), raw text also from denials ("no labels"). A paraphrase match for pairs or ratings needs its half: "customer questions with the answers our
    team wrote" sits 0.62 from "customers gave each answer a score" and has no verdict in it."""
    raw = words(text)
    ws = _without_wishes(raw if affirmed_text is None else words(affirmed_text))
    out = set()
    if (has_any(ws, _PAIRED) or has_any(ws, _CANDIDATE_WORDS) or any(w in _CHOICE_WORDS for w in ws)
            or has_any(ws, [p for p in _CHOICE_PHRASES if p not in ("more ", "less ")])  # "cost more" is no choice
            or _several(ws) or any(w.startswith("pair") for w in ws)):
        out.add("pairs")
    verdict_word = any((w in _RATING_WORDS or w in _VERDICT_WORDS or w in _RATING_VERBS) and not _attributive(ws, i)
                       for i, w in enumerate(ws)) or _emoji_pair(ws)
    if verdict_word and _about_outputs(ws):
        out.add("ratings")
    if any(w in _RAW or w.startswith(("unlabel", "unannotat", "text")) for w in raw) or has_any(raw, _RAW_PHRASES):
        out.add("raw")
    if any(w in _OWN_MODELS or (w.startswith("per-") and len(w) > 6) for w in raw) or any(
            raw[i : i + 2] in (["its", "own"], ["their", "own"]) and raw[i + 2 : i + 3] and raw[i + 2] in _OWNED
            for i in range(len(raw))):
        out.add("tenants")  # many adapters: models, versions or owners of their own ("per-practice", "its own voice")
    if any(w in _FREQUENT or w in _NOW or w in _VOLATILE or w in _STALE or _changes(raw, i)
           for i, w in enumerate(raw)) or has_any(
            raw, _NOW_PHRASES + _NOW_ASKED + ["out of date", "real time", "right now"]):
        out.add("changes")  # facts that change need a word of change, time or a moving thing somewhere
    return out


_OWNED = {"voice", "style", "model", "version", "tone", "way", "customization", "customisation", "phrasing", "adapter"}
_OWN_MODELS = {"adapter", "adapters", "tenant", "tenants", "client", "clients", "variant", "variants", "copy",
               "copies", "owners", "brands", "per-customer", "per-client", "multi-tenant", "franchises", "customization",
               "customisation", "customizations", "customisations", "hot-swappable", "swappable"}


def _attributive(ws: list[str], i: int) -> bool:
    """"the approved answer", "its correct label": the verdict names the reference, it is not one given."""
    return (i > 0 and ws[i - 1] in ("the", "a", "an", "its", "their", "our", "his", "her") and i + 1 < len(ws)
            and (ws[i + 1] in _OUTPUTS or ws[i + 1] in ("label", "labels", "category", "version", "text")))


_STALE = {"outdated", "stale", "obsolete", "newest", "recent", "fresh", "expired", "expiring", "seasonal",
          "temporary", "volatile", "dynamic", "moving", "ongoing"}


_VOCAB = {w for group in (_NEGATION, _CHOICE_WORDS, _COMPARATIVES, _OUTPUTS, _GOOD, _BAD, _RATING_WORDS, _JUDGED,
                          _RATING_VERBS,
                          _VERDICT_WORDS, _CHANGE, _FREQUENT, _PERIODS, _NOW, _VOLATILE, _GOOD_ONE, _BAD_ONE, _RAW)
          for w in group} | {w for phrases in (_HYPOTHETICAL, _CANDIDATE_WORDS, _CHOICE_PHRASES, _PAIRED, _NOW_PHRASES,
                                               _NOW_ASKED, _RAW_PHRASES) for p in phrases for w in p.split()}
_TYPO = _typo_table(_VOCAB)
