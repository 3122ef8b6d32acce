"""Which event loop runs the bot: uvloop where it is installed (Linux and macOS), else asyncio's.

Every decision crosses threads twice (the loop hands the append to the ledger's thread, which
hands the result back). uvloop's cross-thread wake-up costs about half of asyncio's: bench/
ledger.py measured a round trip of 17 us against 30 us, and durable appends 0.63 of raw SQLite
against 0.60.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def name() -> str:
    """The loop `run` will use, for logs and benchmark reports."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on uvloop when it is available."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
