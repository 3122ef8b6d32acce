"""Events API deliveries are retried (X-Slack-Retry-Num) and a retry can overlap the first
delivery: remember event ids for a while and drop repeats."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

TTL_SECONDS = 15 * 60  # Slack retries for about 5 minutes; keep ids for longer


@dataclass
class SeenEvents:
    ttl: float = TTL_SECONDS
    _seen: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def first_time(self, event_id: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        while self._seen and next(iter(self._seen.values())) < now - self.ttl:
            self._seen.popitem(last=False)
        if event_id in self._seen:
            return False
        self._seen[event_id] = now
        return True
