"""Fault injection per Web API method: the next N calls, or a random share of all calls."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum


class FaultKind(StrEnum):
    RATE_LIMITED = "ratelimited"  # HTTP 429 with Retry-After
    SERVER_ERROR = "server_error"  # HTTP 500
    SLOW = "slow"  # the real answer, after a delay
    ERROR = "error"  # HTTP 200 with ok: false and the given error code


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    delay: float = 1.0  # seconds, for SLOW
    retry_after: int = 1  # seconds, for RATE_LIMITED
    error: str = "fatal_error"  # for ERROR


@dataclass
class RandomFaults:
    rate: float
    kinds: tuple[FaultKind, ...]
    methods: frozenset[str] | None  # None: every method
    rng: random.Random
    delay: float = 0.5


@dataclass
class Faults:
    pending: dict[str, deque[Fault]] = field(default_factory=dict)
    random_faults: RandomFaults | None = None
    injected: list[tuple[str, FaultKind]] = field(default_factory=list)

    def next_calls(self, method: str, fault: Fault, count: int = 1) -> None:
        """The next `count` calls of `method` meet `fault`."""
        self.pending.setdefault(method, deque()).extend([fault] * count)

    def at_random(
        self,
        rate: float,
        kinds: tuple[FaultKind, ...] = (
            FaultKind.RATE_LIMITED,
            FaultKind.SERVER_ERROR,
            FaultKind.SLOW,
        ),
        *,
        methods: frozenset[str] | None = None,
        seed: int = 0,
        delay: float = 0.5,
    ) -> None:
        """A share `rate` of calls (of `methods`, or all) meets one of `kinds`, reproducibly."""
        if not 0 <= rate <= 1:
            raise ValueError("rate is a share between 0 and 1")
        self.random_faults = RandomFaults(rate, kinds, methods, random.Random(seed), delay)

    def clear(self) -> None:
        self.pending.clear()
        self.random_faults = None

    def take(self, method: str) -> Fault | None:
        queue = self.pending.get(method)
        fault: Fault | None = None
        if queue:
            fault = queue.popleft()
        elif (
            (chance := self.random_faults) is not None
            and (chance.methods is None or method in chance.methods)
            and chance.rng.random() < chance.rate
        ):
            fault = Fault(chance.rng.choice(chance.kinds), delay=chance.delay)
        if fault is not None:
            self.injected.append((method, fault.kind))
        return fault
