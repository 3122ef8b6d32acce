"""Publishing and promoting runbook versions. Every change is a ledger append; nothing is edited."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.catalog import RunbookFile
from bot.domain.versions import Ref, VersionInfo, parse_selector, resolve
from bot.errors import ConflictError, UserError
from bot.ledger.chain import NewEvent
from bot.ledger.projections import PROMOTED, PUBLISHED
from bot.ledger.store import LedgerStore

ATTEMPTS = 5  # a concurrent publisher can take our version number; we re-read and try again


class PublishStatus(StrEnum):
    NEW = "new"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class PublishOutcome:
    version: VersionInfo
    status: PublishStatus
    default: int | None

    def line(self) -> str:
        text = f"{self.version.label} ({self.status.value})"
        if self.status is PublishStatus.UNCHANGED and self.default not in (
            None,
            self.version.number,
        ):
            text += (
                f"; the default is {self.version.name}@{self.default}, "
                f"run `runbook-bot promote {self.version.name}@{self.version.number}` to use this one"
            )
        return text


async def publish_one(
    store: LedgerStore, file: RunbookFile, *, author: str, message: str
) -> PublishOutcome:
    name = file.runbook.name
    for _ in range(ATTEMPTS):
        versions = await store.versions(name)
        for version in versions:
            if version.sha256 == file.sha256:
                return PublishOutcome(
                    version, PublishStatus.UNCHANGED, await store.default_number(name)
                )
        number = max((v.number for v in versions), default=0) + 1
        payload = {
            "name": name,
            "number": number,
            "sha256": file.sha256,
            "source": file.source,
            "message": message,
            "path": file.path,
            "hooks": file.hooks,
        }
        try:
            [entry] = await store.append([NewEvent(kind=PUBLISHED, actor=author, payload=payload)])
        except ConflictError:
            continue
        version = VersionInfo(
            name, number, file.sha256, file.source, author, message, entry.ts, entry.seq
        )
        return PublishOutcome(version, PublishStatus.NEW, number)
    raise UserError(f"Could not publish {name}: other publishers kept winning; try again.")


async def publish(
    store: LedgerStore, files: Sequence[RunbookFile], *, author: str, message: str
) -> list[PublishOutcome]:
    return [await publish_one(store, f, author=author, message=message) for f in files]


async def pinned_hooks(store: LedgerStore, version: VersionInfo) -> dict[str, str]:
    """The hook source hashes recorded when this version was published."""
    entry = await store.entry(version.seq)
    hooks = entry.data.get("hooks", {}) if entry is not None else {}
    return {str(k): str(v) for k, v in hooks.items()}


async def find(store: LedgerStore, ref: Ref) -> VersionInfo:
    versions = await store.versions(ref.name)
    return resolve(ref, versions, await store.default_number(ref.name))


@dataclass(frozen=True)
class PromoteOutcome:
    version: VersionInfo
    previous: int | None

    def line(self) -> str:
        if self.previous == self.version.number:
            return f"{self.version.label} is already the default; nothing changed."
        was = f" (was {self.version.name}@{self.previous})" if self.previous else ""
        return f"{self.version.label} is now the default{was}."


async def defaults(store: LedgerStore, query: str = "") -> list[VersionInfo]:
    """The default version of each published runbook whose name contains `query`."""
    return [
        await find(store, Ref(name))
        for name in await store.runbook_names()
        if not query or query.lower() in name
    ]


async def promote(store: LedgerStore, ref: Ref, *, actor: str) -> PromoteOutcome:
    version = await find(store, ref)
    previous = await store.default_number(version.name)
    if previous != version.number:
        payload = {
            "name": version.name,
            "number": version.number,
            "sha256": version.sha256,
            "previous": previous,
        }
        await store.append([NewEvent(kind=PROMOTED, actor=actor, payload=payload)])
    return PromoteOutcome(version, previous)


async def diff(store: LedgerStore, name: str, a: str, b: str) -> str:
    """A unified diff of two versions' published sources, headed by their hashes."""
    old = await find(store, parse_selector(name, a))
    new = await find(store, parse_selector(name, b))
    lines = difflib.unified_diff(
        old.source.splitlines(keepends=True),
        new.source.splitlines(keepends=True),
        fromfile=old.short,
        tofile=new.short,
        fromfiledate=old.published_at,
        tofiledate=new.published_at,
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return text
