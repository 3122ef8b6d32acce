"""The checks that need a well-formed runbook as a whole, not a field at a time: param
definitions, step shapes, gotos, the names templates use, roles and hooks. Each problem comes
with where it is (a loc in the YAML tree) and a hint; validation.py turns them into
`path:line:col` problems."""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from bot.domain.run_params import coerce_param
from bot.domain.runbook import END, PARAM_NAME_PATTERN, Param, ParamType, RolesFile, Step, StepKind
from bot.domain.templates import BUILTIN_NAMES, check_template, is_template
from bot.domain.yaml_source import Loc

DEFAULT_HOOKS_DIR = "runbooks/hooks/"  # the usual home of a team's hooks, for hints

CrossProblem = tuple[Loc, bool, str, str]  # loc, point-at-key, message, hint


def cross_checks(
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
