"""Run one hook: check its arguments, bound its time, and make its result safe to record."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.domain.canonical import canonical_json
from bot.domain.hook_commands import HookOutcome
from bot.domain.run_params import mask
from bot.errors import report_unexpected
from bot.hooks.api import HookContext, HookError, HookSpec

DEFAULT_TIMEOUT_S = 60
MAX_RESULT_CHARS = 4000
logger = logging.getLogger("runbook-bot.hooks")

# Credentials that must not reach the ledger or Slack even when a hook prints them.
TOKEN_PATTERNS = [
    re.compile(r"xox[abposre]-[A-Za-z0-9-]{8,}"),  # Slack tokens
    re.compile(r"xapp-[A-Za-z0-9-]{8,}"),
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key ids
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{16,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
]


def redact_tokens(value: Any) -> Any:
    if isinstance(value, str):
        for pattern in TOKEN_PATTERNS:
            value = pattern.sub(
                lambda m: (m.group(1) if m.groups() else "") + "[redacted token]", value
            )
        return value
    if isinstance(value, list):
        return [redact_tokens(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_tokens(v) for k, v in value.items()}
    return value


def safe_result(value: Any, secrets: Mapping[str, str]) -> Any:
    """JSON-able, secrets and tokens masked, and no longer than MAX_RESULT_CHARS when encoded."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    try:
        text = canonical_json(value)
    except (TypeError, ValueError):
        value = repr(value)
        text = canonical_json(value)
    value = redact_tokens(mask(value, secrets))
    text = canonical_json(value)
    if len(text) <= MAX_RESULT_CHARS:
        return value
    return {"truncated": True, "size": len(text), "preview": text[:MAX_RESULT_CHARS]}


def _argument_errors(exc: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or 'with'}: {e['msg']}" for e in exc.errors()]
    return "; ".join(parts)


async def execute(
    spec: HookSpec,
    args: Mapping[str, Any],
    ctx: HookContext,
    *,
    limit_s: float = DEFAULT_TIMEOUT_S,
    secrets: Mapping[str, str] = {},
) -> HookOutcome:
    """Never raises for a hook's failure; cancellation (an abort) propagates to the caller."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        parsed = spec.args_model.model_validate(dict(args))
    except ValidationError as exc:
        error = (
            f"{spec.name} got bad arguments ({_argument_errors(exc)}); fix `with:` in the runbook."
        )
        return HookOutcome(ok=False, error=redact_tokens(mask(error, secrets)))
    try:
        result = await asyncio.wait_for(spec.fn(parsed, ctx), limit_s)
    except TimeoutError:
        return HookOutcome(
            ok=False, timed_out=True, duration_ms=elapsed(), error=f"timed out after {limit_s:g}s"
        )
    except HookError as exc:
        return HookOutcome(
            ok=False, duration_ms=elapsed(), error=redact_tokens(mask(str(exc), secrets))
        )
    except Exception as exc:
        error_id = report_unexpected(
            logger, exc, context=f"running hook {spec.name} for {ctx.idempotency_key}"
        )
        message = f"{type(exc).__name__}: {exc} (error id {error_id})"
        return HookOutcome(
            ok=False, duration_ms=elapsed(), error=redact_tokens(mask(message, secrets))
        )
    return HookOutcome(ok=True, duration_ms=elapsed(), result=safe_result(result, secrets))
