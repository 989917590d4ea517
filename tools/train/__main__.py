"""`python -m tools.train RUN_DIR`: train the plan in RUN_DIR in this process (what `launch()` starts).

Exit code 0 when the run completed or was cancelled (its checkpoint kept), 1 when it failed.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: python -m tools.train RUN_DIR   (RUN_DIR holds plan.yaml)", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    if not (run_dir / "plan.yaml").is_file():
        print(f"error: {run_dir / 'plan.yaml'} not found; create the run with `finetune-assistant train`.", file=sys.stderr)
        return 2
    from tools.train.callbacks import CancelRequest
    from tools.train.runner import run

    cancel = CancelRequest(run_dir.resolve())
    cancel.install_signal_handler()  # SIGTERM/SIGINT: finish the step, checkpoint, stop
    try:
        run(run_dir, cancel=cancel)
    except Exception:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
