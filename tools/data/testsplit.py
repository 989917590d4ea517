"""The locked test split: carved once at prepare time, hashed, and checked before every verdict.

    from tools.data.testsplit import locked_test
    path = locked_test("prepared/")      # prepared/test.jsonl, or TestSplitChanged if it was edited

Rounds of training choose their settings on validation only; the verdict is on test. `report.json`
records test.jsonl's sha256, and evaluation refuses a test file whose hash differs, so neither a user
edit nor an agent tool can quietly make the goal easier. No tool of the agent writes this file.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

TEST_FILE = "test.jsonl"
MIN_ROWS = 10  # below this a test split would leave too little to train on; the verdict uses validation then


class TestSplitChanged(ValueError):
    """test.jsonl differs from the one prepare wrote (or is gone while report.json says it was written)."""

    __test__ = False  # not a pytest test class despite the name


def test_count(total: int, train: int, fraction: float) -> int:
    """Rows `carve` moves to the test split: `fraction` of all rows, at least 3, at most half of train."""
    if fraction <= 0 or total < MIN_ROWS:
        return 0
    return min(max(3, round(total * fraction)), train // 2)


def carve(train: list[int], total: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, test) indices: `fraction` of all rows (at least 3) moved from train to test, deterministically."""
    n_test = test_count(total, len(train), fraction)
    if not n_test:
        return train, []
    order = sorted(train)
    random.Random(f"test-{seed}").shuffle(order)
    return sorted(order[n_test:]), sorted(order[:n_test])


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def locked_test(data_dir: str | Path) -> Path | None:
    """The prepared folder's test.jsonl after checking its hash; None when it was prepared without one."""
    folder = Path(data_dir).expanduser()
    report_path = folder / "report.json"
    try:
        recorded = json.loads(report_path.read_text(encoding="utf-8")).get("test_sha256")
    except (OSError, json.JSONDecodeError):
        recorded = None
    path = folder / TEST_FILE
    if not recorded:
        return None
    if not path.is_file():
        raise TestSplitChanged(f"{path} is missing but {report_path} records a test split; prepare the data again.")
    actual = sha256(path)
    if actual != recorded:
        raise TestSplitChanged(
            f"{path} changed since it was prepared (sha256 {actual[:12]}… vs recorded {recorded[:12]}…); the verdict "
            "is only honest on the locked split. Restore the file or prepare the data again (a new test split).")
    return path
