"""Slack requests being acknowledged right now, so background posting can wait its turn.

Every decision is durable before its ack, and Slack wants the ack within 3 seconds; the posts
and card redraws that follow can wait a moment. While requests are in flight, and for a few
milliseconds after the last one is answered (in a burst the next click is usually already on
its way), the outbox waits, never longer than `MAX_WAIT_SECONDS` at a time, so acks are not
queued behind thread posts on the one event loop.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from contextlib import contextmanager

MAX_WAIT_SECONDS = 1.0
QUIET_SECONDS = 0.005  # after the last ack; adds at most this much to a card's redraw


class Foreground:
    def __init__(self, quiet: float = QUIET_SECONDS) -> None:
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._quiet = quiet
        self._last_answered = -math.inf  # loop time

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
                self._last_answered = asyncio.get_running_loop().time()
                self._idle.set()

    async def wait_turn(self, longest: float = MAX_WAIT_SECONDS) -> None:
        """Return once no request is in flight and none was answered in the last few
        milliseconds, or after `longest` seconds at most."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + longest
        while True:
            now = loop.time()
            if self._idle.is_set():
                calm_at = self._last_answered + self._quiet
                if now >= calm_at or now >= deadline:
                    return
                await asyncio.sleep(min(calm_at, deadline) - now)
                continue
            if now >= deadline:
                return
            try:
                await asyncio.wait_for(self._idle.wait(), deadline - now)
            except TimeoutError:
                return
