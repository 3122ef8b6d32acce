"""Turn a runbook file's text into a Runbook, or into every problem it has, with positions.

Pure: the caller reads the file; this module only sees its path (for messages) and text.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import types
import typing
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.domain.problems import Problem
from bot.domain.runbook import (
    END,
    PARAM_NAME_PATTERN,
    Param,
    ParamType,
    RolesFile,
    Runbook,
    Step,
    StepKind,
)
from bot.domain.templates import BUILTIN_NAMES, check_template, is_template
from bot.domain.yaml_source import Loc, SourceTree, YamlSyntaxError, parse_yaml

M = TypeVar("M", bound=BaseModel)
DEFAULT_HOOKS_DIR = "runbooks/hooks/"  # the usual home of a team's hooks, for hints

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
        for loc, key, message, hint in _cross_checks(
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


# ---- cross-checks on a well-formed runbook --------------------------------------------

CrossProblem = tuple[Loc, bool, str, str]  # loc, point-at-key, message, hint


def _cross_checks(
    params: Mapping[str, Param],
    steps: list[tuple[int, Step]],
    ids: list[str],
    names: frozenset[str],
    roles: RolesFile | None,
    known_hooks: frozenset[str] | None,
    hooks_dir: str,
) -> Iterator[CrossProblem]:
    yield from _check_params(params)
    first_index: dict[str, int] = {}
    for index, step_id in enumerate(ids):
        at: list[str | int] = ["steps", index]
        if step_id == END:
            yield (
                [*at, "id"],
                False,
                f"step id {END!r} is reserved for 'goto: {END}'",
                "rename the step",
            )
        if step_id and step_id in first_index:
            message = (
                f"duplicate step id {step_id!r} (first used by step {first_index[step_id] + 1})"
            )
            yield [*at, "id"], False, message, "step ids must be unique"
        first_index.setdefault(step_id, index)
    for index, step in steps:
        at = ["steps", index]
        yield from _check_step_shape(step, at)
        yield from _check_gotos(step, at, ids[index + 1 :], ids)
        yield from _check_step_templates(step, at, names)
        if step.guard is not None and roles is not None:
            for k, role in enumerate(step.guard.approvers):
                if role not in roles.roles:
                    close = difflib.get_close_matches(role, list(roles.roles), n=1)
                    hint = f"did you mean {close[0]!r}?" if close else "define it in roles.yml"
                    yield (
                        [*at, "guard", "approvers", k],
                        False,
                        f"guard names undefined role {role!r}",
                        hint,
                    )
        if known_hooks is not None:
            for loc, hook in (
                (["hook"], step.hook),
                (["rollback", "hook"], step.rollback and step.rollback.hook),
            ):
                if hook and hook not in known_hooks:
                    close = difflib.get_close_matches(hook, sorted(known_hooks), n=1)
                    hint = (
                        f"did you mean {close[0]!r}?"
                        if close
                        else f"register it with @hook in a module in {hooks_dir}"
                    )
                    yield [*at, *loc], False, f"hook {hook!r} is not registered", hint


def _pattern_problems(at: Loc, pattern: str) -> Iterator[CrossProblem]:
    """A pattern that does not compile, or that Python warns a future version will read
    differently (`[[`, `--`, `&&`, `~~` or `||` inside a set): its meaning must not change
    under a param it guards. re caches what it compiled, warnings and all, so the cache is
    emptied first: the verdict must not depend on what was compiled before."""
    re.purge()
    error: re.error | None = None
    with warnings.catch_warnings(record=True) as caught:  # no yield in here: state is global
        warnings.simplefilter("always")
        try:
            re.compile(pattern)
        except re.error as exc:
            error = exc
    if error is not None:
        yield at, False, f"pattern is not a valid regular expression: {error}", ""
        return
    for warning in caught:
        if issubclass(warning.category, FutureWarning):
            said = str(warning.message)
            yield (
                at,
                False,
                f"pattern is ambiguous: {said[:1].lower()}{said[1:]}, which a future Python will read differently",
                "put a backslash before the doubled character or the inner [",
            )


def _check_params(params: Mapping[str, Param]) -> Iterator[CrossProblem]:
    for name, param in params.items():
        at: list[str | int] = ["params", name]
        if not re.match(PARAM_NAME_PATTERN, name) or name in BUILTIN_NAMES:
            yield (
                at,
                True,
                f"param name {name!r} cannot be used in templates",
                "use lowercase letters, digits and _ (not 'steps' or 'run')",
            )
        if param.type is ParamType.CHOICE and not param.choices:
            yield (
                at,
                False,
                f"param {name!r} is a choice but lists no choices",
                "add choices: [a, b]",
            )
        if param.choices is not None and param.type is not ParamType.CHOICE:
            yield (
                [*at, "choices"],
                True,
                f"choices only apply to type choice, not {param.type.value}",
                "set type: choice",
            )
        if param.pattern is not None:
            if param.type is not ParamType.STRING:
                yield (
                    [*at, "pattern"],
                    True,
                    f"pattern only applies to type string, not {param.type.value}",
                    "",
                )
            yield from _pattern_problems([*at, "pattern"], param.pattern)
        if param.required and param.default is not None:
            yield (
                [*at, "default"],
                True,
                f"param {name!r} is required and also has a default",
                "drop one of them",
            )
        if param.default is not None:
            try:
                coerce_param(name, param, param.default)
            except ValueError as exc:
                yield [*at, "default"], False, f"default does not fit the param: {exc}", ""


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


def _check_step_shape(step: Step, at: list[str | int]) -> Iterator[CrossProblem]:
    if step.hook is not None and step.choices is not None:
        yield (
            [*at, "choices"],
            True,
            "a step is a hook or a decision, not both",
            "split it into two steps",
        )
    if step.kind is not StepKind.HOOK:
        for key, present in (
            ("with", bool(step.with_)),
            ("timeout", step.timeout is not None),
            ("rollback", step.rollback is not None),
            ("idempotent", step.idempotent),
        ):
            if present:
                yield (
                    [*at, key],
                    True,
                    f"{key!r} only applies to hook steps",
                    "add hook: NAME or remove it",
                )
    if step.choices is not None and len(step.choices) < 2:
        yield [*at, "choices"], True, "a decision needs at least two choices", ""
    if step.when is not None and not is_template(step.when):
        yield (
            [*at, "when"],
            False,
            "a when condition must be a template, or it is always true",
            f'write "{{{{ {step.when} }}}}"',
        )


def _check_gotos(
    step: Step, at: list[str | int], later: list[str], all_ids: list[str]
) -> Iterator[CrossProblem]:
    for j, choice in enumerate(step.choices or []):
        if choice.goto == END or choice.goto in later:
            continue
        loc = [*at, "choices", j, "goto"]
        if choice.goto in all_ids:
            yield (
                loc,
                False,
                f"goto {choice.goto!r} points back to an earlier step; runs only move forward",
                f"choose a later step or {END!r}",
            )
        else:
            close = difflib.get_close_matches(choice.goto, [*later, END], n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"use a later step id or {END!r}"
            yield loc, False, f"goto names unknown step {choice.goto!r}", hint


def _check_step_templates(
    step: Step, at: list[str | int], names: frozenset[str]
) -> Iterator[CrossProblem]:
    fields: list[tuple[Loc, Any]] = [
        ([*at, "title"], step.title),
        ([*at, "text"], step.text),
        ([*at, "when"], step.when),
        ([*at, "with"], step.with_),
    ]
    if step.rollback is not None:
        fields.append(([*at, "rollback", "with"], step.rollback.with_))
    for loc, value in fields:
        for sub, text in _strings(value, list(loc)):
            for problem in check_template(text, names):
                yield sub, False, problem.message, _name_hint(problem.unknown_name, names)


def _name_hint(name: str | None, names: frozenset[str]) -> str:
    """For a name nobody declared: the declared one it most looks like, or where names come from."""
    if name is None:
        return ""
    close = difflib.get_close_matches(name, sorted(names | BUILTIN_NAMES), n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return "declare it under params, or use steps.<id> / run.<field>"


def _strings(value: Any, loc: list[str | int]) -> Iterator[tuple[Loc, str]]:
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, [*loc, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, [*loc, index])
