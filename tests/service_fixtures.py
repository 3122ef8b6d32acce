"""Publish a runbooks directory for real and build RunServices over one SQLite file."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot import catalog_service
from bot.catalog import load_catalog_and_hooks, load_roles
from bot.ledger.sqlite_store import SqliteStore
from bot.run_service import RunService, roles_from_file

TEAM_HOOKS = '''
import asyncio
from pathlib import Path

from pydantic import BaseModel

from bot.hooks import HookContext, hook


class Work(BaseModel):
    marker: str


@hook("team.work")
async def work(args: Work, ctx: HookContext) -> dict[str, str]:
    """Counts calls in a file; sleeps while a `block` file sits next to it."""
    path = Path(args.marker)
    with path.open("a", encoding="utf-8") as f:
        f.write(ctx.idempotency_key + "\\n")
    while path.with_name("block").exists():
        await asyncio.sleep(0.05)
    return {"key": ctx.idempotency_key}
'''

GUARDED = """
name: guarded-work
title: Guarded work
params:
  marker: {type: string, required: true}
steps:
  - id: work
    title: Do the work
    hook: team.work
    with: {marker: "{{ marker }}"}
    guard: {approvers: [incident-commander]}
  - id: confirm
    title: Confirm
"""

PLAIN = """
name: plain-work
title: Plain work
params:
  marker: {type: string, required: true}
steps:
  - id: work
    title: Do the work
    hook: team.work
    with: {marker: "{{ marker }}"}
    idempotent: IDEMPOTENT
  - id: confirm
    title: Confirm
"""


def add_team_runbooks(runbooks_dir: Path, *, idempotent: bool = False) -> None:
    (runbooks_dir / "hooks").mkdir(exist_ok=True)
    (runbooks_dir / "hooks" / "team.py").write_text(textwrap.dedent(TEAM_HOOKS), encoding="utf-8")
    (runbooks_dir / "guarded-work.yml").write_text(GUARDED, encoding="utf-8")
    plain = PLAIN.replace("IDEMPOTENT", "true" if idempotent else "false")
    (runbooks_dir / "plain-work.yml").write_text(plain, encoding="utf-8")


async def publish_all(db: Path, runbooks_dir: Path) -> None:
    checked, registry = await load_catalog_and_hooks(runbooks_dir)
    assert checked.problems == [] and registry.failures == [], (checked.problems, registry.failures)
    store = await SqliteStore.open(db)
    try:
        await catalog_service.publish(store, checked.runbooks, author="publisher", message="")
    finally:
        await store.close()


@asynccontextmanager
async def service(db: Path, runbooks_dir: Path) -> AsyncIterator[RunService]:
    _, registry = await load_catalog_and_hooks(runbooks_dir)
    store = await SqliteStore.open(db)
    try:
        yield RunService(store, registry, roles_from_file(await load_roles(runbooks_dir)))
    finally:
        await store.close()
