"""File paths and URLs inside a user's words: they name a place, they state nothing.

"use model /srv/a100/dpo-models/llama" is not an A100, not DPO; "/home/me/10gb-corpus/x.jsonl" is not
10 GB; "/check/work/main" holds no regex /check/ and no word about checks. Readers that look for statements
(the interview's slots, the success checks) read the words with these taken out; readers that look for
places or names (the data file, the base model) read the words as written.
"""

from __future__ import annotations

import re

from tools.vocab import DATA_SUFFIX_PATTERN

_TOKEN = re.compile(r"\S{1,4000}")
_TRAILING = re.compile(r"[.,;:!?)\]}'\"”’]{1,20}$")  # the sentence's own punctuation after a path or URL
_QUOTED = re.compile(r"(?<!\w)'[^'\n]{1,300}'(?!\w)|\"[^\"\n]{1,300}\"|“[^”\n]{1,300}”")
_URL = re.compile(r"\b[a-z][a-z0-9+.\-]{1,15}://\S{0,2000}", re.IGNORECASE)
_PATH_CHARS = re.compile(r"[\w.\-~:/\\]{1,2000}")
_LONE_PATTERN = re.compile(r"/[\w\-]{1,200}/\.?")  # "/Ada/" is how people write a regex, not a folder
_FILE_SUFFIXES = rf"(?:{DATA_SUFFIX_PATTERN}|ya?ml|txt|md|py|sh|gguf|safetensors|bin|pt|zip|tar|gz|log)"
# data/train.jsonl is a file; Qwen/Qwen2.5 and HuggingFaceTB/SmolLM2-1.7B are Hub ids (one slash, no file suffix)
_ONE_SLASH_FILE = re.compile(rf"[\w.\-~]{{0,200}}/[\w.\-]{{0,200}}\.{_FILE_SUFFIXES}", re.IGNORECASE)
_SUFFIX = re.compile(r"/[\w\-]{1,200}\.\w{1,8}$")
_WINDOWS = re.compile(r"[a-z]:[\\/]\S{0,2000}|\\\\\S{1,2000}", re.IGNORECASE)  # C:\data\x, \\server\share
# A data file named in the words, as typed ("train on ./data/faq.jsonl"): group 1 the path, group 2 its
# suffix. Bounded (H1): the interview, a plan edit and the data-file answer after approval all read it.
DATA_FILE = re.compile(rf"(?<![\w~./\\-])([\w~./\\-]{{1,255}}\.({DATA_SUFFIX_PATTERN}))\b", re.IGNORECASE)


def is_path(token: str) -> bool:
    """Whether one whitespace-free token is a file path (with or without surrounding quotes or brackets)."""
    bare = token.strip("\"'`()[]<>,;!?")
    if _WINDOWS.fullmatch(bare):
        return True
    if not _PATH_CHARS.fullmatch(bare):
        return False
    if bare.count("/") >= 2:  # rooted, relative or ending in a folder or a file; "prompt/winner/loser" is words
        rooted = bare.startswith(("/", "./", "../", "~")) or bare.endswith("/") or _SUFFIX.search(bare)
        return bool(rooted) and not _LONE_PATTERN.fullmatch(bare)
    return bare.count("/") == 1 and bool(_ONE_SLASH_FILE.fullmatch(bare))


def without_paths(text: str, urls: bool = True, quoted: bool = True) -> str:
    """`text` with every file path (and URL, unless `urls=False`) replaced by a space; the punctuation that
    ends the sentence after one, and all other characters, line breaks included, stay. `quoted=False` leaves
    quoted spans alone (a success check may quote the very path or link an answer must give). A Hub id
    ("Qwen/Qwen2.5-7B") is kept: it has one slash and no file suffix."""
    if not quoted:
        parts, last = [], 0
        for match in _QUOTED.finditer(text):
            parts += [without_paths(text[last : match.start()], urls), match.group()]
            last = match.end()
        return "".join(parts + [without_paths(text[last:], urls)])
    if urls:
        text = _URL.sub(lambda m: _blank(m.group()), text)
    return _TOKEN.sub(lambda m: _blank(m.group()) if is_path(m.group()) else m.group(), text)


def _blank(token: str) -> str:
    trailing = _TRAILING.search(token)
    return " " + (trailing.group() if trailing else "")
