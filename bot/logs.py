"""Logging: JSON lines for the long-running bot (with the run and step being worked on), plain
text for one-off commands."""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_run: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_id", default=None)
_step: contextvars.ContextVar[str | None] = contextvars.ContextVar("step_id", default=None)


@contextmanager
def log_context(*, run_id: str | None = None, step_id: str | None = None) -> Iterator[None]:
    """Every log line inside names this run and step (also in tasks started inside)."""
    tokens = [_run.set(run_id), _step.set(step_id)]
    try:
        yield
    finally:
        _step.reset(tokens[1])
        _run.reset(tokens[0])


_ENCODER = json.JSONEncoder(ensure_ascii=False)  # once: json.dumps builds one per call otherwise


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, var in (("run_id", _run), ("step_id", _step)):
            value = getattr(record, key, None) or var.get()
            if value:
                line[key] = value
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return _ENCODER.encode(line)


def configure(*, json_lines: bool, level: int = logging.INFO) -> None:
    """Neither format shows a source line, thread or process, so records skip collecting them:
    the frame walk alone was a fifth of a log line's cost on every click (see the logging
    HOWTO, "Optimization")."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
