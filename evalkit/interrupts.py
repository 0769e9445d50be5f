"""Ctrl-C in a command: the first one stops the work cleanly (KeyboardInterrupt: what is finished is
written, worker processes are stopped, then one line and exit 130); a second one, pressed while that
clean-up runs (people press it twice), exits at once with the same line instead of a traceback from
the middle of the clean-up. Every line written to a run directory is flushed as it is written, so
exiting without unwinding loses nothing that was finished."""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

EXIT_CODE = 130  # 128 + SIGINT, what shells report for a command stopped by Ctrl-C


@contextmanager
def stop_on_interrupt(message: str) -> Iterator[None]:
    """Ctrl-C inside ends the command with `message` and exit 130, once and without a traceback.
    SIGINT's handler is left alone off the main thread and where SIGINT is ignored or handled already."""
    owns = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    state = {"seen": False, "said": False}

    def on_sigint(signum: int, frame: object) -> None:
        if state["seen"]:  # the second Ctrl-C: the clean-up is not waited for
            _exit_now(None if state["said"] else message)
        state["seen"] = True
        raise KeyboardInterrupt

    if owns:
        signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    except KeyboardInterrupt:
        state["seen"] = state["said"] = True  # from here a Ctrl-C only ends the process (threads are joined at exit)
        print(message, file=sys.stderr, flush=True)
        raise SystemExit(EXIT_CODE) from None
    finally:
        if owns and not state["seen"]:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _exit_now(message: str | None) -> None:
    """Exit 130 without unwinding (the clean-up it skips only stops processes that die with this one)."""
    try:
        if message:
            os.write(2, (message + "\n").encode())
    finally:
        os._exit(EXIT_CODE)
