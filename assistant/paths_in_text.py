"""File paths and URLs inside a user's words: they name a place, they state nothing.

"use model /srv/a100/dpo-models/llama" is not an A100, not DPO; "/home/me/10gb-corpus/x.jsonl" is not
10 GB; "/check/work/main" holds no regex /check/ and no word about checks. Readers that look for statements
(the interview's slots, the success checks) read the words with these taken out; readers that look for
places or names (the data file, the base model) read the words as written.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\S{1,4000}")
_URL = re.compile(r"\b[a-z][a-z0-9+.\-]{1,15}://\S{0,2000}", re.IGNORECASE)
_PATH_CHARS = re.compile(r"[\w.\-~:/\\]{1,2000}")
_LONE_PATTERN = re.compile(r"/[\w\-]{1,200}/\.?")  # "/Ada/" is how people write a regex, not a folder
_ONE_SLASH_FILE = re.compile(r"[\w.\-~]{0,200}/[\w\-]{1,200}\.\w{1,8}")  # data/train.jsonl
_SUFFIX = re.compile(r"/[\w\-]{1,200}\.\w{1,8}$")
_WINDOWS = re.compile(r"[a-z]:[\\/]\S{0,2000}|\\\\\S{1,2000}", re.IGNORECASE)  # C:\data\x, \\server\share


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


def without_paths(text: str) -> str:
    """`text` with every URL and file path replaced by a space; all other characters, line breaks included,
    stay where they were. A Hub id ("Qwen/Qwen2.5-7B") is kept: it has one slash and no file suffix."""
    return _TOKEN.sub(lambda m: " " if is_path(m.group()) else m.group(), _URL.sub(" ", text))
