"""What a hook author sees: the decorator, the context, and the error to raise."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast, get_type_hints

from pydantic import BaseModel

MARK = "__runbook_hook__"
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class HookError(Exception):
    """Raise it to fail a step with a message people can act on (no traceback is shown)."""


@dataclass(frozen=True)
class HookContext:
    """What a running hook knows about its run. `idempotency_key` is stable across retries of
    the same attempt: pass it to APIs that deduplicate."""

    run_id: str
    step_id: str
    idempotency_key: str
    dry_run: bool = False
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("runbook-bot.hooks"))
    post: Callable[[str, str], Awaitable[Any]] | None = None  # (channel, text) -> Slack result


@dataclass(frozen=True)
class HookSpec:
    name: str
    fn: Callable[[Any, HookContext], Awaitable[Any]]
    args_model: type[BaseModel]
    source_path: str
    source_sha256: str
    description: str = ""
    plans: bool = False  # answers ctx.dry_run with a plan instead of acting


def hook(name: str, *, plans: bool = False) -> Callable[[F], F]:
    """Mark an async function as the hook `name`. Its first parameter's type is a pydantic
    model describing the hook's `with:` arguments. With `plans=True` the hook promises to act
    on nothing when `ctx.dry_run` is true and to return what it would do; approvers see that
    plan before they approve."""

    def mark(fn: F) -> F:
        if not inspect.iscoroutinefunction(cast(Any, fn)):
            raise TypeError(f"hook {name!r}: {fn.__qualname__} must be `async def`")
        hints = get_type_hints(fn)
        params = list(inspect.signature(fn).parameters)
        model = hints.get(params[0]) if params else None
        if len(params) != 2 or not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(
                f"hook {name!r}: write `async def {fn.__name__}(args: SomeModel, ctx: HookContext)`"
            )
        setattr(fn, MARK, (name, model, plans))
        return fn

    return mark
