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
from bot.slack.runtime import slack_runtime
from bot.slack.socket_mode import run_socket_mode


async def recover_runs(settings: Settings, store: LedgerStore, out: TextIO) -> None:
    """Hooks that were running when the bot last stopped are retried or put to a person."""
    registry = await load_registry([settings.runbooks_dir / HOOKS_DIR])
    roles = (
        await load_roles(settings.runbooks_dir) if settings.runbooks_dir.is_dir() else RolesFile()
    )
    recovered = await RunService(store, registry, roles_from_file(roles)).recover()
    for entry in recovered:
        print(f"recovered {entry.run_id}: {describe(entry)}", file=out)


async def run_site(app: web.Application, host: str, port: int, banner: str, out: TextIO) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise UserError(
                f"Cannot listen on {host}:{port} ({exc.strerror}); choose another with --port."
            ) from None
        print(banner, file=out, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


async def serve_slack(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """HTTP mode on /slack/events; with SLACK_APP_TOKEN, Socket Mode (and /healthz, /metrics)."""
    async with slack_runtime(settings) as runtime:
        for entry in await runtime.service.recover():
            print(f"recovered {entry.run_id}: {describe(entry)}", file=out)
        await runtime.outbox.resume_all()
        address = f"http://{args.host}:{args.port}"
        if settings.slack_app_token is None:
            banner = f"runbook-bot: Slack over HTTP on {address}/slack/events  (Ctrl-C to stop)"
            await run_site(runtime.web_app, args.host, args.port, banner, out)
            return 0
        stop = asyncio.Event()
        app_token = settings.slack_app_token.get_secret_value()
        socket = asyncio.create_task(
            run_socket_mode(runtime.app, app_token=app_token, client=runtime.client, stop=stop)
        )
        try:
            banner = f"runbook-bot: Slack over Socket Mode; health and metrics on {address}/healthz"
            await run_site(runtime.web_app, args.host, args.port, banner, out)
        finally:
            stop.set()
            await socket
    return 0


async def serve(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if settings.has_slack_credentials:
        return await serve_slack(args, settings, out)
    async with opened_store(settings) as store:
        await recover_runs(settings, store, out)
        banner = f"runbook-bot console: http://{args.host}:{args.port}/  (Ctrl-C to stop)"
        await run_site(build_console_app(settings, store), args.host, args.port, banner, out)
    return 0
