"""Sandboxed Jinja2 for runbook text: strict undefined, and static checks of the names used."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Names a template may use besides the runbook's params: earlier steps' results and run facts.
BUILTIN_NAMES = frozenset({"steps", "run"})


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    """One sandbox for every template: no attribute escapes, no mutation, unknown names fail."""
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


@dataclass(frozen=True)
class TemplateProblem:
    message: str
    line_offset: int = 0  # line within the template text, 0-based
    unknown_name: str | None = None  # the name, when the problem is a name nobody declared


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def check_template(text: str, known_names: frozenset[str]) -> list[TemplateProblem]:
    """Syntax errors and names that are neither params nor built-ins; no rendering happens."""
    if not is_template(text):
        return []
    env = environment()
    try:
        tree = env.parse(text)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(f"template syntax error: {exc.message}", (exc.lineno or 1) - 1)]
    unknown = sorted(meta.find_undeclared_variables(tree) - known_names - BUILTIN_NAMES)
    return [
        TemplateProblem(f"template uses unknown name {name!r}", unknown_name=name)
        for name in unknown
    ]


@lru_cache(maxsize=1024)
def compiled(text: str) -> Template:
    """Compiling costs far more than rendering, and a runbook's texts are few and immutable:
    without this cache compiling was the largest share of the bot's CPU under load."""
    return environment().from_string(text)


def render(text: str, context: Mapping[str, Any]) -> str:
    """Render one template string in the sandbox; raise on any unknown name."""
    if not is_template(text):
        return text
    return compiled(text).render(**context)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside a JSON-like value (used for a hook's `with` arguments)."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    if isinstance(value, dict):
        return {key: render_value(item, context) for key, item in value.items()}
    return value


def evaluate_condition(text: str, context: Mapping[str, Any]) -> bool:
    """A `when` condition: the rendered text is true unless it is empty, false, no, 0 or none."""
    rendered = render(text, context).strip().lower()
    return rendered not in {"", "false", "no", "0", "none", "off"}
