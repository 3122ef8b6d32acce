"""`runbook-bot serve`."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import TextIO

from aiohttp import web

from bot.catalog import HOOKS_DIR, load_roles
from bot.cli.common import opened_store
from bot.config import Settings
from bot.console.server import build_console_app
from bot.domain.runbook import RolesFile
from bot.errors import UserError
from bot.hooks.registry import load_registry
from bot.ledger.export import describe
from bot.ledger.store import LedgerStore
from bot.run_service import RunService, roles_from_file


async def recover_runs(settings: Settings, store: LedgerStore, out: TextIO) -> None:
    """Hooks that were running when the bot last stopped are retried or put to a person."""
    registry = await load_registry([settings.runbooks_dir / HOOKS_DIR])
    roles = (
        await load_roles(settings.runbooks_dir) if settings.runbooks_dir.is_dir() else RolesFile()
    )
    recovered = await RunService(store, registry, roles_from_file(roles)).recover()
    for entry in recovered:
        print(f"recovered {entry.run_id}: {describe(entry)}", file=out)


async def serve(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if settings.has_slack_credentials:
        raise UserError(
            "Slack mode (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are set) is not available in this "
            "version yet; unset them to run the local console."
        )
    async with opened_store(settings) as store:
        await recover_runs(settings, store, out)
        runner = web.AppRunner(build_console_app(settings, store), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, args.host, args.port)
            try:
                await site.start()
            except OSError as exc:
                raise UserError(
                    f"Cannot listen on {args.host}:{args.port} ({exc.strerror}); choose another with --port."
                ) from None
            print(
                f"runbook-bot console: http://{args.host}:{args.port}/  (Ctrl-C to stop)",
                file=out,
                flush=True,
            )
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()
    return 0
