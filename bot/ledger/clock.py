"""The ledger's clock: UTC to the microsecond, as `2026-11-23T10:04:05.123456Z`.

Every append reads it. `datetime.now(UTC).isoformat(...)` took about 4 microseconds in place
(run cold, right after the loop wakes), a sixth of the loop's work for an append; the
date and time of day change once a second, so they are formatted once a second here.
"""

from __future__ import annotations

import time
from functools import lru_cache


@lru_cache(maxsize=2)
def _utc_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def utc_now() -> str:
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    return f"{_utc_second(seconds)}.{micros:06d}Z"
