"""Turn a runbook file's text into a Runbook, or into every problem it has, with positions.

Pure: the caller reads the file; this module only sees its path (for messages) and text.
"""

from __future__ import annotations

import contextlib
import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.domain.cross_checks import DEFAULT_HOOKS_DIR, cross_checks
from bot.domain.problems import Problem
from bot.domain.runbook import (
    Param,
    RolesFile,
    Runbook,
    Step,
)
from bot.domain.yaml_source import Loc, SourceTree, YamlSyntaxError, parse_yaml

M = TypeVar("M", bound=BaseModel)

# What a pattern means, in words, for the fields authors most often get wrong.
_PATTERN_HELP = {
    "name": "must be a slug: lowercase letters, digits and single hyphens, e.g. restart-service",
    "id": "must start with a lowercase letter and use only lowercase letters, digits, - and _",
    "hook": "must be a dotted hook name such as http.request or demo.restart",
}


@dataclass(frozen=True)
class Parsed(Generic[M]):
    """A model when the file is valid; otherwise None and at least one problem."""

    model: M | None
    problems: list[Problem] = field(default_factory=list)
    tree: SourceTree | None = None


def parse_model(path: str, text: str, model: type[M]) -> Parsed[M]:
    """Parse YAML and validate it against `model`, reporting all structural problems."""
    try:
        tree = parse_yaml(text)
    except YamlSyntaxError as exc:
        return Parsed(None, [Problem(path, exc.line, exc.column, exc.message)])
    if not isinstance(tree.data, dict):
        kind = "empty" if tree.data is None else f"a {type(tree.data).__name__}"
        return Parsed(
            None, [Problem(path, 1, 1, f"expected a mapping of keys, but the file is {kind}")], tree
        )
    try:
        return Parsed(model.model_validate(tree.data), [], tree)
    except ValidationError as exc:
        problems = [_problem_from_error(path, tree, model, err) for err in exc.errors()]
        return Parsed(None, sorted(set(problems)), tree)


def validate_runbook(
    path: str,
    text: str,
    *,
    roles: RolesFile | None = None,
    known_hooks: frozenset[str] | None = None,
    hooks_dir: str = DEFAULT_HOOKS_DIR,
) -> Parsed[Runbook]:
    """Every problem of the file at once: structure, and the cross-checks of every param and
    step that is well-formed, even when other parts of the file are not. `hooks_dir` is where
    the hint for an unregistered hook sends the reader: the directory the hooks came from."""
    parsed = parse_model(path, text, Runbook)
    tree = parsed.tree
    if tree is None or not isinstance(tree.data, dict):
        return parsed
    params, steps, ids, names = _salvage(tree.data, parsed.model)
    problems = [
        Problem(path, *tree.position(loc, key=key), message, hint)
        for loc, key, message, hint in cross_checks(
            params, steps, ids, names, roles, known_hooks, hooks_dir
        )
    ]
    if problems or parsed.model is None:
        return Parsed(None, sorted(set(parsed.problems) | set(problems)), tree)
    return parsed


def _salvage(
    data: dict[str, Any], runbook: Runbook | None
) -> tuple[dict[str, Param], list[tuple[int, Step]], list[str], frozenset[str]]:
    """The well-formed params and steps (with their indexes), every step id and param name."""
    if runbook is not None:
        indexed = list(enumerate(runbook.steps))
        return (
            dict(runbook.params),
            indexed,
            [s.id for s in runbook.steps],
            frozenset(runbook.params),
        )
    raw_params = data.get("params") if isinstance(data.get("params"), dict) else {}
    raw_steps = data.get("steps") if isinstance(data.get("steps"), list) else []
    assert isinstance(raw_params, dict) and isinstance(raw_steps, list)
    params: dict[str, Param] = {}
    for name, raw in raw_params.items():
        with contextlib.suppress(ValidationError):  # reported by the structural pass
            params[str(name)] = Param.model_validate(raw)
    steps: list[tuple[int, Step]] = []
    for index, raw in enumerate(raw_steps):
        with contextlib.suppress(ValidationError):
            steps.append((index, Step.model_validate(raw)))
    ids = [str(r.get("id", "")) if isinstance(r, dict) else "" for r in raw_steps]
    return params, steps, ids, frozenset(str(n) for n in raw_params)


# ---- pydantic errors -> problems -------------------------------------------------------


def _problem_from_error(
    path: str, tree: SourceTree, model: type[BaseModel], err: ErrorDetails
) -> Problem:
    loc = [part for part in err["loc"] if not (isinstance(part, str) and "[" in part)]
    kind = err["type"]
    where = _describe(loc)
    if kind == "extra_forbidden":
        bad = str(loc[-1])
        allowed = sorted(_allowed_keys(model, loc[:-1]))
        close = difflib.get_close_matches(bad, allowed, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
        return Problem(path, *tree.position(loc, key=True), f"unknown key {bad!r}{where}", hint)
    if kind == "missing":
        return Problem(path, *tree.position(loc), f"missing required key {loc[-1]!s}{where}")
    if kind == "string_pattern_mismatch":
        field_name = str(loc[-1]) if loc and isinstance(loc[-1], str) else ""
        helptext = _PATTERN_HELP.get(field_name, f"must match {err.get('ctx', {}).get('pattern')}")
        return Problem(
            path, *tree.position(loc), f"{field_name or 'value'} {err['input']!r} {helptext}"
        )
    message = str(err["msg"])
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    label = _dotted(loc) or "file"
    return Problem(path, *tree.position(loc), f"{label}: {message[:1].lower()}{message[1:]}")


def _describe(loc: Loc) -> str:
    """' in steps[2].guard' style suffix naming where a key lives."""
    parent = loc[:-1]
    if not parent:
        return " at the top level"
    return f" in {_dotted(parent)}"


def _dotted(loc: Loc) -> str:
    """steps[2].guard.quorum"""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _allowed_keys(model: type[BaseModel], loc: Loc) -> set[str]:
    """The keys the model accepts at `loc`, by following field annotations."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part)) or next(
                (f for f in current.model_fields.values() if f.alias == part), None
            )
            if info is None:
                return set()
            current = info.annotation
        elif typing.get_origin(current) in (list, dict):
            current = typing.get_args(current)[-1]
        else:
            return set()
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return {info.alias or name for name, info in current.model_fields.items()}
    return set()


def _unwrap(annotation: Any) -> Any:
    """Optional[X] -> X, so that we can walk into it."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation
