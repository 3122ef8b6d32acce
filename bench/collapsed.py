"""Read py-spy's raw ("collapsed") output: one line per distinct stack, its frames joined by
`;` from the outermost in, then a space and the number of samples.

Only the event loop's thread is summed: its stacks start in `runpy` (`python -m bot serve`).
The database thread and executor threads spend most of their samples waiting, and mixed in
they would hide where the loop's time goes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_LINE_NUMBER = re.compile(r":\d+\)$")  # "f (bot/x.py:12)" -> "f (bot/x.py)": one row per function
_MAIN_THREAD_ROOT = "(<frozen runpy>)"


@dataclass(frozen=True)
class Summary:
    samples: int  # of the event loop's thread
    inclusive: list[tuple[float, str]]  # (share of samples, function), largest first
    by_package: list[tuple[float, str]]  # (share, top-level package of the innermost frame)


def parse(lines: Iterable[str]) -> list[tuple[list[str], int]]:
    """(frames, samples) per line; blank and malformed lines are skipped."""
    stacks = []
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([_LINE_NUMBER.sub(")", f) for f in stack.split(";")], int(count)))
    return stacks


def package(frame: str) -> str:
    """`f (slack_bolt/app/async_app.py)` -> `slack_bolt`; `f (json/decoder.py)` -> `json`."""
    match = re.search(r"\(([^)]*)\)$", frame)
    if not match:
        return frame
    return match.group(1).split("/")[0]


def summarise(lines: Iterable[str], top: int = 40) -> Summary:
    """Each function's inclusive share of the loop thread's samples (a function on the stack
    twice counts once; those on every sample are left out), and each package's self time."""
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in parse(lines):
        if not frames or not frames[0].endswith(_MAIN_THREAD_ROOT):
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[package(frames[-1])] += count
    if not total:
        return Summary(0, [], [])
    # Frames on every sample (runpy, the CLI, the event loop itself) say nothing.
    below_root = [(frame, n) for frame, n in inclusive.most_common() if n < total]
    return Summary(
        total,
        [(n / total, frame) for frame, n in below_root[:top]],
        [(n / total, name) for name, n in own.most_common(top)],
    )


def report(summary: Summary) -> str:
    if not summary.samples:
        return "no samples of the event loop's thread (was py-spy attached to `serve`?)"
    lines = [f"{summary.samples} samples of the event loop's thread", "", "inclusive share:"]
    lines += [f"  {share:6.1%}  {frame}" for share, frame in summary.inclusive]
    lines += ["", "self time by package:"]
    lines += [f"  {share:6.1%}  {name}" for share, name in summary.by_package]
    return "\n".join(lines)
