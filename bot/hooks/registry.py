"""Find hooks in the built-in package and in runbooks/hooks/. A broken module is reported with
its traceback and skipped; a second hook with a taken name is rejected; the bot keeps going."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from bot.hooks.api import MARK, HookSpec

BUILTIN_MODULES = ("bot.hooks.builtin",)


@dataclass(frozen=True)
class LoadFailure:
    source: str
    message: str
    details: str = ""  # the traceback, for the log

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass(frozen=True)
class Registry:
    hooks: dict[str, HookSpec] = field(default_factory=dict)
    failures: list[LoadFailure] = field(default_factory=list)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.hooks)

    def get(self, name: str) -> HookSpec | None:
        return self.hooks.get(name)


def _collect(
    module: ModuleType,
    source_path: str,
    source: str,
    hooks: dict[str, HookSpec],
    failures: list[LoadFailure],
) -> None:
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    for _, fn in inspect.getmembers(module, inspect.iscoroutinefunction):
        marked = getattr(fn, MARK, None)
        if marked is None or fn.__module__ != module.__name__:
            continue
        name, model, plans = marked
        if name in hooks:
            failures.append(
                LoadFailure(
                    source_path,
                    f"hook {name!r} is already defined in {hooks[name].source_path}; this one is ignored",
                )
            )
            continue
        doc = (inspect.getdoc(fn) or "").split("\n", 1)[0]
        hooks[name] = HookSpec(name, fn, model, source_path, digest, doc, plans)


def _load_file(path: Path) -> ModuleType:
    module_name = f"runbook_hooks.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def load_sync(hook_dirs: Iterable[Path], builtin: Iterable[str] = BUILTIN_MODULES) -> Registry:
    hooks: dict[str, HookSpec] = {}
    failures: list[LoadFailure] = []
    for module_name in builtin:
        module = importlib.import_module(module_name)
        path = Path(module.__file__ or module_name)
        _collect(module, module_name, path.read_text(encoding="utf-8"), hooks, failures)
    for directory in hook_dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            try:
                module = _load_file(path)
            except Exception as exc:
                failures.append(
                    LoadFailure(
                        str(path),
                        f"failed to import: {type(exc).__name__}: {exc}",
                        traceback.format_exc(),
                    )
                )
                continue
            _collect(module, str(path), path.read_text(encoding="utf-8"), hooks, failures)
    return Registry(hooks, failures)


async def load_registry(hook_dirs: Iterable[Path]) -> Registry:
    """Built-in hooks plus every module in the given directories (runbooks/hooks/)."""
    return await asyncio.to_thread(load_sync, list(hook_dirs))
