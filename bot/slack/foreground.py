"""Slack requests being acknowledged right now, so background posting can wait its turn.

Every decision is durable before its ack, and Slack wants the ack within 3 seconds; the posts
and card redraws that follow can wait a moment. When a burst of clicks arrives at once, the
outbox waits until none is in flight (never longer than `MAX_WAIT_SECONDS`), so the acks are
not queued behind thread posts on the one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress

MAX_WAIT_SECONDS = 1.0


class Foreground:
    def __init__(self) -> None:
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextmanager
    def request(self) -> Iterator[None]:
        """Around the handling of one Slack request, up to its acknowledgement."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def wait_turn(self, longest: float = MAX_WAIT_SECONDS) -> None:
        """Return once no request is in flight, or after `longest` seconds at most."""
        if self._idle.is_set():
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), longest)
