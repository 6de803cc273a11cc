"""Waiting in tests for something another process or thread does (a journal line, a file, a
frame on the wire): poll a condition until it holds or the time is up."""
from __future__ import annotations

import time
from typing import Callable


def wait_for(pred: Callable[[], object], timeout: float, interval: float = 0.02) -> bool:
    """True as soon as ``pred()`` holds, False if it never did within ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())
