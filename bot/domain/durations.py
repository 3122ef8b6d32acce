"""Durations as authors write them ("90s", "15m", "1h30m") and as we store them (seconds)."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+)([smhd])")
_WHOLE = re.compile(r"^(?:\d+[smhd])+$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_PATTERN = r"^(?:\d+[smhd])+$"


def parse_duration(value: object) -> int:
    """Return whole seconds; accept an int of seconds or a string such as "1h30m"."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string such as 15m")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("a duration must be positive")
        return value
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if text.isdigit():
            return parse_duration(int(text))
        if _WHOLE.match(text):
            seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
            if seconds > 0:
                return seconds
    raise ValueError(
        f"{value!r} is not a duration; write seconds (30) or a string such as 30s, 15m, 2h, 1h30m"
    )


def format_duration(seconds: int) -> str:
    """The shortest human form of a duration, e.g. 5400 -> "1h30m"."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
