"""A run's inputs: checking params, keeping secrets out of records, and the template context."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.domain.run_state import RunState
from bot.domain.runbook import Param, ParamType, Runbook
from bot.domain.templates import render_value
from bot.errors import UserError

REDACTED = "[secret]"


def coerce_param(name: str, param: Param, value: object) -> str | int | float | bool:
    """Check and convert one param value (from YAML or from `key=value` text)."""
    kind = param.type
    if kind is ParamType.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "yes", "on", "1"}:
            return True
        if text in {"false", "no", "off", "0"}:
            return False
        raise ValueError(f"{name} must be true or false, not {value!r}")
    if kind is ParamType.INTEGER:
        if isinstance(value, bool) or not re.fullmatch(r"-?\d+", str(value).strip()):
            raise ValueError(f"{name} must be a whole number, not {value!r}")
        return int(str(value).strip())
    if kind is ParamType.NUMBER:
        text = str(value).strip()
        if isinstance(value, bool) or not re.fullmatch(r"-?(\d+\.?\d*|\.\d+)(e-?\d+)?", text):
            raise ValueError(f"{name} must be a number, not {value!r}")
        return float(text)
    text = value if isinstance(value, str) else str(value)
    if kind is ParamType.CHOICE and param.choices is not None and text not in param.choices:
        raise ValueError(f"{name} must be one of {', '.join(param.choices)}, not {text!r}")
    if param.pattern is not None and not re.search(param.pattern, text):
        raise ValueError(f"{name} {text!r} does not match {param.pattern}")
    return text


def resolve_params(runbook: Runbook, given: Mapping[str, str]) -> dict[str, Any]:
    """Check `key=value` inputs against the runbook's params; fill defaults."""
    unknown = sorted(set(given) - set(runbook.params))
    if unknown:
        takes = ", ".join(runbook.params) or "no params"
        raise UserError(f"{runbook.name} has no param {', '.join(unknown)}; it takes: {takes}.")
    values: dict[str, Any] = {}
    missing = []
    for name, param in runbook.params.items():
        if name in given:
            try:
                values[name] = coerce_param(name, param, given[name])
            except ValueError as exc:
                raise UserError(f"{exc}.") from None
        elif param.default is not None:
            values[name] = param.default
        elif param.required:
            missing.append((name, param.type.value))
        else:
            values[name] = False if param.type is ParamType.BOOLEAN else ""
    if missing:
        needed = ", ".join(f"{name} ({kind})" for name, kind in missing)
        how = f"add it as {missing[0][0]}=VALUE" if len(missing) == 1 else "add them as key=value"
        raise UserError(f"{runbook.name} needs {needed}; {how}.")
    return values


def secret_values(runbook: Runbook, values: Mapping[str, Any]) -> dict[str, str]:
    return {
        n: str(values[n]) for n, p in runbook.params.items() if p.secret and str(values.get(n, ""))
    }


def mask(value: Any, secrets: Mapping[str, str]) -> Any:
    """Replace every secret value inside strings of a JSON-like value."""
    if isinstance(value, str):
        for secret in sorted(secrets.values(), key=len, reverse=True):
            if secret:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, list):
        return [mask(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: mask(v, secrets) for k, v in value.items()}
    return value


def template_context(state: RunState, secrets: Mapping[str, str]) -> dict[str, Any]:
    params = {**state.params, **secrets}
    steps = {
        s.id: {"status": s.status.value, "result": s.result, "choice": s.choice, "note": s.note}
        for s in state.steps
    }
    run = {
        "id": state.run_id,
        "requester": state.requester,
        "channel": state.channel,
        "runbook": state.runbook,
    }
    return {**params, "steps": steps, "run": run}


def rendered_args(
    state: RunState, with_: Mapping[str, Any], secrets: Mapping[str, str]
) -> dict[str, Any]:
    """A hook's `with:` arguments with secrets in place: for the executor only, never recorded."""
    value = render_value(dict(with_), template_context(state, secrets))
    assert isinstance(value, dict)
    return value
