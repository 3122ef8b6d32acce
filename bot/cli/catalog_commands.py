"""validate, publish, versions, show, diff, promote, schema."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TextIO

from bot import catalog_service
from bot.catalog import CatalogCheck, load_catalog_and_hooks
from bot.cli.common import acting_person, opened_store
from bot.config import Settings
from bot.domain.runbook import Runbook
from bot.domain.versions import parse_ref
from bot.errors import UserError

logger = logging.getLogger("runbook-bot")


async def checked_catalog(
    settings: Settings, paths: list[Path], out: TextIO
) -> CatalogCheck | None:
    """Load hooks, then check the runbooks against them; print every problem, None if any."""
    checked, registry = await load_catalog_and_hooks(settings.runbooks_dir, paths)
    problems = [str(f) for f in registry.failures] + [str(p) for p in checked.problems]
    for failure in registry.failures:
        if failure.details:
            logger.error("hook module %s failed to load:\n%s", failure.source, failure.details)
    for problem in problems:
        print(problem, file=out)
    if problems:
        print(f"{len(problems)} problem(s) in {checked.checked} file(s).", file=out)
        return None
    return checked


async def validate(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    checked = await checked_catalog(settings, [Path(p) for p in args.paths], out)
    if checked is None:
        return 1
    names = ", ".join(f.runbook.name for f in checked.runbooks) or "none"
    print(f"ok: {len(checked.runbooks)} runbook(s) valid ({names}).", file=out)
    return 0


async def publish(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    checked = await checked_catalog(settings, [], out)
    if checked is None:
        print("Nothing was published; fix the problems above and publish again.", file=out)
        return 1
    if not checked.runbooks:
        raise UserError(f"There are no runbooks in {settings.runbooks_dir} to publish.")
    async with opened_store(settings) as store:
        outcomes = await catalog_service.publish(
            store, checked.runbooks, author=acting_person(args.actor), message=args.message
        )
    for outcome in outcomes:
        print(outcome.line(), file=out)
    return 0


async def versions(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.name is None:
        return await every_runbook(settings, out)
    name = parse_ref(args.name).name
    async with opened_store(settings, read_only=True) as store:
        found = await store.versions(name)
        default = await store.default_number(name)
    if not found:
        raise UserError(f"No published runbook is named {name!r}; run `runbook-bot publish` first.")
    print(f"{'':2}{'version':<10}{'sha256':<14}{'published (UTC)':<22}{'by':<16}message", file=out)
    for v in found:
        mark = "*" if v.number == default else " "
        when = v.published_at[:19].replace("T", " ")
        print(
            f"{mark} {'@' + str(v.number):<10}{v.sha256[:12]:<14}{when:<22}{v.author:<16}{v.message}",
            file=out,
        )
    print(f"* default: {name}@{default}", file=out)
    return 0


async def every_runbook(settings: Settings, out: TextIO) -> int:
    """`versions` without a name: one line a runbook, its default and its latest version."""
    async with opened_store(settings, read_only=True) as store:
        rows = []
        for name in await store.runbook_names():
            found = await store.versions(name)
            rows.append((name, await store.default_number(name), found[-1]))
    if not rows:
        raise UserError("Nothing is published yet; run `runbook-bot publish` first.")
    width = max(len("runbook"), *(len(name) for name, _, _ in rows)) + 2
    print(f"{'runbook':<{width}}{'default':<9}{'latest':<8}{'published (UTC)':<22}by", file=out)
    for name, default, latest in rows:
        when = latest.published_at[:19].replace("T", " ")
        print(
            f"{name:<{width}}{'@' + str(default) if default else '-':<9}"
            f"{'@' + str(latest.number):<8}{when:<22}{latest.author}",
            file=out,
        )
    return 0


async def show(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    async with opened_store(settings, read_only=True) as store:
        version = await catalog_service.find(store, parse_ref(args.ref))
    out.write(version.source if version.source.endswith("\n") else version.source + "\n")
    return 0


async def diff(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    name = parse_ref(args.name).name
    async with opened_store(settings, read_only=True) as store:
        text = await catalog_service.diff(store, name, args.a, args.b)
    out.write(text or f"{name}: the two versions have the same source.\n")
    return 0


async def promote(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    async with opened_store(settings, existing=True) as store:
        outcome = await catalog_service.promote(
            store, parse_ref(args.ref), actor=acting_person(args.actor)
        )
    print(outcome.line(), file=out)
    return 0


def runbook_schema() -> dict[str, object]:
    schema = Runbook.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


async def schema(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    print(json.dumps(runbook_schema(), indent=2, sort_keys=True), file=out)
    return 0
