"""The only code that reads runbooks/ from disk; checking what it read is pure."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.domain.cross_checks import DEFAULT_HOOKS_DIR
from bot.domain.problems import Problem
from bot.domain.runbook import RolesFile, Runbook
from bot.domain.validation import parse_model, validate_runbook
from bot.domain.versions import content_hash, hooks_used
from bot.errors import UserError
from bot.hooks.registry import Registry, load_registry

ROLES_FILE = "roles.yml"
SUFFIXES = (".yml", ".yaml")
SKIPPED_DIRS = {"hooks"}
HOOKS_DIR = "hooks"  # runbooks/hooks/: the team's own hook modules


@dataclass(frozen=True)
class SourceFile:
    path: str  # as shown in messages
    text: str


@dataclass(frozen=True)
class RunbookFile:
    path: str
    source: str
    runbook: Runbook
    sha256: str  # covers the runbook and the source hashes of the hooks it uses
    hooks: dict[str, str] = field(default_factory=dict)  # hook name -> sha256 of its source


@dataclass(frozen=True)
class CatalogCheck:
    runbooks: list[RunbookFile] = field(default_factory=list)
    roles: RolesFile = field(default_factory=RolesFile)
    problems: list[Problem] = field(default_factory=list)
    checked: int = 0


def check_sources(
    sources: Sequence[SourceFile],
    roles_source: SourceFile | None,
    *,
    hooks: Mapping[str, str] | None = None,
    hooks_dir: str = DEFAULT_HOOKS_DIR,
) -> CatalogCheck:
    """Validate runbook texts against each other, the roles file and the hooks (name -> source
    sha256) when given, which came from `hooks_dir` (for hints). Pure."""
    known_hooks = frozenset(hooks) if hooks is not None else None
    problems: list[Problem] = []
    roles = RolesFile()
    if roles_source is not None:
        parsed_roles = parse_model(roles_source.path, roles_source.text, RolesFile)
        problems.extend(parsed_roles.problems)
        roles = parsed_roles.model or RolesFile()
    runbooks: list[RunbookFile] = []
    first_path: dict[str, str] = {}
    for source in sources:
        parsed = validate_runbook(
            source.path, source.text, roles=roles, known_hooks=known_hooks, hooks_dir=hooks_dir
        )
        problems.extend(parsed.problems)
        if parsed.model is None or parsed.tree is None:
            continue
        name = parsed.model.name
        if name in first_path:
            line, column = parsed.tree.position(["name"])
            problems.append(
                Problem(
                    source.path,
                    line,
                    column,
                    f"runbook name {name!r} is already used by {first_path[name]}",
                    "names must be unique",
                )
            )
            continue
        first_path[name] = source.path
        pinned = (
            {name: hooks[name] for name in hooks_used(parsed.model)} if hooks is not None else {}
        )
        sha256 = content_hash(parsed.model, pinned)
        runbooks.append(RunbookFile(source.path, source.text, parsed.model, sha256, pinned))
    return CatalogCheck(runbooks, roles, problems, checked=len(sources))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _runbook_paths(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in directory.rglob("*")
        if p.suffix in SUFFIXES
        and p.is_file()
        and p.name != ROLES_FILE
        and not SKIPPED_DIRS.intersection(p.relative_to(directory).parts[:-1])
    )


def _read(path: Path) -> SourceFile:
    try:
        return SourceFile(_display(path), path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return SourceFile(_display(path), "\x00")  # reported as a YAML error by the parser
    except OSError as exc:
        raise UserError(f"Cannot read {path}: {exc.strerror}.") from None


def _load_sync(
    runbooks_dir: Path, paths: Sequence[Path]
) -> tuple[list[SourceFile], SourceFile | None]:
    if not paths:
        if not runbooks_dir.is_dir():
            raise UserError(
                f"The runbooks directory {runbooks_dir} does not exist; create it or set RUNBOOKS_DIR."
            )
        paths = [runbooks_dir]
    files: list[Path] = []
    roles_path = beside(runbooks_dir, paths, ROLES_FILE)
    for path in paths:
        if path.is_dir():
            files.extend(_runbook_paths(path))
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"{path} does not exist.")
    roles = _read(roles_path) if roles_path.is_file() else None
    return [_read(p) for p in files], roles


async def load_catalog(
    runbooks_dir: Path,
    paths: Sequence[Path] = (),
    *,
    hooks: Mapping[str, str] | None = None,
    hooks_dir: str = DEFAULT_HOOKS_DIR,
) -> CatalogCheck:
    """Read the runbooks directory (or the given files and directories) and check it."""
    sources, roles = await asyncio.to_thread(_load_sync, runbooks_dir, paths)
    return check_sources(sources, roles, hooks=hooks, hooks_dir=hooks_dir)


async def load_roles(runbooks_dir: Path) -> RolesFile:
    """roles.yml of the runbooks directory; an empty set of roles when there is none."""
    path = runbooks_dir / ROLES_FILE
    source = await asyncio.to_thread(lambda: _read(path) if path.is_file() else None)
    if source is None:
        return RolesFile()
    parsed = parse_model(source.path, source.text, RolesFile)
    if parsed.model is None:
        raise UserError("; ".join(str(p) for p in parsed.problems))
    return parsed.model


def beside(runbooks_dir: Path, paths: Sequence[Path], name: str) -> Path:
    """roles.yml or hooks/ for the runbooks being checked: a directory named on the command
    line brings its own, if it has one (the last such directory wins); otherwise the runbooks
    directory's."""
    for path in reversed(paths):
        if path.is_dir() and (path / name).exists():
            return path / name
    return runbooks_dir / name


async def load_catalog_and_hooks(
    runbooks_dir: Path, paths: Sequence[Path] = ()
) -> tuple[CatalogCheck, Registry]:
    """The runbooks checked against the hooks in runbooks/hooks/ (plus the built-ins), with each
    runbook's hash covering the source of the hooks it uses, as publishing records it."""
    hooks_dir = await asyncio.to_thread(beside, runbooks_dir, paths, HOOKS_DIR)
    registry = await load_registry([hooks_dir])
    hashes = {name: spec.source_sha256 for name, spec in registry.hooks.items()}
    checked = await load_catalog(
        runbooks_dir, paths, hooks=hashes, hooks_dir=f"{_display(hooks_dir)}/"
    )
    return checked, registry
