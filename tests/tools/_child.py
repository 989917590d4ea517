"""Starting a command under test as a terminal would."""

from __future__ import annotations

import signal


def as_from_a_terminal() -> None:
    """`preexec_fn` for a child the test will stop with Ctrl-C: SIGINT at its default and unblocked.

    A non-interactive shell starts its background jobs with SIGINT ignored (a suite launched with
    `nohup … &`, for one), and a child inherits that, so the command under test would never see the signal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
