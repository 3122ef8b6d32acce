"""bench/collapsed.py: summing py-spy's collapsed stacks for the event loop's thread."""

from __future__ import annotations

import pytest

from bench.collapsed import package, parse, report, summarise

ROOT = "_run_module_as_main (<frozen runpy>:198);run (bot/event_loop.py:33)"
RAW = [
    f"{ROOT};events (bot/slack/web.py:40);action (bot/slack/listeners.py:300) 6\n",
    f"{ROOT};events (bot/slack/web.py:41);loads (json/__init__.py:346) 3\n",
    f"{ROOT};events (bot/slack/web.py:40);events (bot/slack/web.py:40) 1\n",  # recursion
    "_bootstrap (threading.py:1002);_main (bot/ledger/db_thread.py:37) 50\n",  # another thread
    "\n",
    "garbled line without a count\n",
]


def test_only_the_event_loop_thread_is_summed_with_line_numbers_merged() -> None:
    summary = summarise(RAW)
    assert summary.samples == 10
    shares = dict((frame, share) for share, frame in summary.inclusive)
    assert shares["action (bot/slack/listeners.py)"] == pytest.approx(0.6)
    assert shares["loads (json/__init__.py)"] == pytest.approx(0.3)
    assert not any("db_thread" in frame for frame in shares)


def test_frames_on_every_sample_are_left_out_and_recursion_counts_once() -> None:
    summary = summarise(RAW)
    frames = [frame for _, frame in summary.inclusive]
    assert "run (bot/event_loop.py)" not in frames  # on all 10 samples
    assert "events (bot/slack/web.py)" not in frames  # also on all 10, once despite recursing
    assert summary.inclusive == sorted(summary.inclusive, reverse=True)


def test_self_time_by_package() -> None:
    assert dict((name, share) for share, name in summarise(RAW).by_package) == {
        "bot": pytest.approx(0.7),
        "json": pytest.approx(0.3),
    }
    assert package("f (slack_bolt/app/async_app.py)") == "slack_bolt"
    assert package("<module> (<frozen runpy>)") == "<frozen runpy>"


def test_malformed_lines_are_skipped_and_no_samples_is_said_plainly() -> None:
    assert [count for _, count in parse(RAW)] == [6, 3, 1, 50]
    empty = summarise(RAW[3:])
    assert empty.samples == 0
    assert "no samples of the event loop's thread" in report(empty)
    assert "10 samples of the event loop's thread" in report(summarise(RAW))
