"""Slack requests being acknowledged right now, so background posting can wait its turn.

Every decision is durable before its ack, and Slack wants the ack within 3 seconds; the posts
and card redraws that follow can wait a moment. While requests are in flight, and for a few
milliseconds after the last one is answered (in a burst the next click is usually already on
its way), the outbox waits, never longer than `MAX_WAIT_SECONDS` at a time, so acks are not
queued behind thread posts on the one event loop. Under heavy traffic (more than `BUSY_RATE`
requests answered in the last second) the lull it waits for is longer: Slack would not take
posts at that rate anyway (about one message per second per channel), and every post made
between two acks of a flood delays the next ack.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

MAX_WAIT_SECONDS = 1.0
QUIET_SECONDS = 0.005  # after the last ack; adds at most this much to a card's redraw
BUSY_RATE = 100  # requests answered in the last second above which the bot counts as busy
BUSY_QUIET_SECONDS = 0.05  # the lull the outbox waits for while busy


class Foreground:
    def __init__(
        self,
        quiet: float = QUIET_SECONDS,
        *,
        busy_quiet: float = BUSY_QUIET_SECONDS,
        busy_rate: int = BUSY_RATE,
    ) -> None:
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._quiet = quiet
        self._busy_quiet = busy_quiet
        # Loop times of the latest answers: busy when even the oldest of them is under 1 s old.
        self._answered: deque[float] = deque(maxlen=busy_rate + 1)
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
            now = asyncio.get_running_loop().time()
            self._answered.append(now)
            if self._in_flight == 0:
                self._last_answered = now
                self._idle.set()

    def _lull(self, now: float) -> float:
        """How long after the last answer the outbox waits: longer while requests pour in."""
        answered = self._answered
        busy = len(answered) == answered.maxlen and answered[0] >= now - 1
        return self._busy_quiet if busy else self._quiet

    async def wait_turn(self, longest: float = MAX_WAIT_SECONDS) -> None:
        """Return once no request is in flight and none was answered in the last few
        milliseconds, or after `longest` seconds at most."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + longest
        while True:
            now = loop.time()
            if self._idle.is_set():
                calm_at = self._last_answered + self._lull(now)
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
