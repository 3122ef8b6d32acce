"""serve logs JSON lines naming the run and step; other commands log plain text."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from bot.logs import JsonFormatter, configure, log_context


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """configure() sets process-wide logging switches; the other tests get them back."""
    for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, name, getattr(logging, name))
    monkeypatch.setattr(logging.getLogger(), "handlers", list(logging.getLogger().handlers))


def test_json_lines_carry_run_and_step_even_in_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    configure(json_lines=True)
    log = logging.getLogger("runbook-bot.test")

    async def inner() -> None:
        log.info("hook output: %s", "ok")

    async def main() -> None:
        with log_context(run_id="run-0123abcd", step_id="restart"):
            await asyncio.create_task(inner())
        log.warning("outside")

    asyncio.run(main())
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines()[-2:])
    assert (
        first["message"] == "hook output: ok"
        and first["run_id"] == "run-0123abcd"
        and first["step_id"] == "restart"
    )
    assert second["level"] == "warning" and "run_id" not in second


def test_tracebacks_are_kept_in_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", None, exc_info=__import__("sys").exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line and "ValueError: boom" in json.loads(line)["traceback"]


def test_configured_records_skip_source_thread_and_process() -> None:
    """Nothing either format prints is collected: no frame walk per line on the click path."""
    configure(json_lines=True)
    seen: list[tuple[logging.LogRecord, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append((record, JsonFormatter().format(record)))

    log = logging.getLogger("runbook-bot.test.fields")
    log.addHandler(Keep())
    try:
        with log_context(run_id="run-1", step_id="s"):
            log.warning("pressed %s", "done")
    finally:
        log.handlers.clear()
    ((record, line),) = seen
    assert record.funcName == "(unknown function)" and record.lineno == 0
    assert record.thread is None and record.process is None
    assert json.loads(line)["run_id"] == "run-1" and json.loads(line)["message"] == "pressed done"
