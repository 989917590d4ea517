"""`python -m tools.train RUN_DIR`: run the job in RUN_DIR in this process (what the job controller starts).

Exit code 0 when the job completed or was cancelled (its checkpoint kept), 1 when it failed.
"""

from __future__ import annotations

import sys

from tools.train.callbacks import CancelRequest
from tools.train.run_dir import RunDir
from tools.train.runner import run


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: python -m tools.train RUN_DIR   (RUN_DIR holds the approved plan)", file=sys.stderr)
        return 2
    folder = RunDir(args[0])
    if not folder.holds_run():
        print(f"error: {folder.plan_file} not found; create the run with `finetune-assistant train`.", file=sys.stderr)
        return 2
    cancel = CancelRequest(folder.path.resolve())
    cancel.install_signal_handler()  # SIGTERM/SIGINT: finish the step, checkpoint, stop
    try:
        run(folder.path, cancel=cancel)
    except Exception:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
