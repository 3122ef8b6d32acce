"""The ledger's clock formats what datetime's isoformat would, once a second or not."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from bot.ledger import clock


def _iso(ns: int) -> str:
    moment = datetime.fromtimestamp(ns // 1000 / 1_000_000, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


@pytest.mark.parametrize(
    "ns",
    [
        1_700_000_000_999_999_000,  # the last microsecond of a second
        1_700_000_001_000_000_000,  # the next second starts
        1_700_000_001_000_000_999,  # nanoseconds are dropped, not rounded up
        1_704_067_199_999_999_999,  # the last instant of 2023
        1_704_067_200_000_001_000,  # 2024 begins
        951_782_400_000_042_000,  # 29 February 2000
    ],
)
def test_the_clock_reads_as_isoformat_would(ns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: ns)
    assert clock.utc_now() == _iso(ns)


def test_the_clock_tells_the_time_now() -> None:
    before = datetime.now(UTC)
    told = datetime.fromisoformat(clock.utc_now())
    after = datetime.now(UTC)
    assert before <= told <= after
