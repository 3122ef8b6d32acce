"""`runbook-bot serve`: Slack over HTTP or Socket Mode when credentials are set; otherwise the
local console, where the emulator stands in for Slack."""

from __future__ import annotations

import argparse
import asyncio
import gc
import secrets
import signal
import socket
from pathlib import Path
from typing import TextIO

from aiohttp import web
from pydantic import SecretStr

from bot import catalog_service
from bot.catalog import load_catalog_and_hooks
from bot.config import Settings
from bot.console.api import add_console
from bot.console.catalog_page import add_catalog_page
from bot.emulator.server import Emulator, load_workspace, running_emulator
from bot.emulator.site import address, bind, start_site
from bot.errors import UserError
from bot.ledger.export import describe
from bot.ledger.open import sqlite_path
from bot.ledger.store import LedgerStore
from bot.slack.runtime import SlackRuntime, slack_runtime
from bot.slack.socket_mode import run_socket_mode

CONSOLE_AUTHOR = "runbook-bot console"


async def wait_for_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def listening(host: str, port: int) -> socket.socket:
    try:
        return bind(host, port)
    except OSError as exc:
        raise UserError(
            f"Cannot listen on {host}:{port} ({exc.strerror}); choose another with --port."
        ) from None


async def resume(runtime: SlackRuntime, out: TextIO) -> None:
    """Hooks that were running when the bot last stopped are retried or put to a person, and
    every run's thread is brought up to date."""
    for entry in await runtime.service.recover():
        print(f"recovered {entry.run_id}: {describe(entry)}", file=out, flush=True)
    await runtime.outbox.resume_all()


async def run_site(app: web.Application, host: str, port: int, banner: str, out: TextIO) -> None:
    sock = listening(host, port)
    runner, _ = await start_site(app, sock=sock)
    try:
        # Start-up's objects (imported modules, the catalog, recovered runs) live as long as
        # the process: out of the collector's reach, full collections stay short.
        gc.freeze()
        print(banner, file=out, flush=True)
        await wait_for_stop()
    finally:
        await runner.cleanup()


async def serve_slack(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """HTTP mode on /slack/events; with SLACK_APP_TOKEN, Socket Mode (and /healthz, /metrics)."""
    async with slack_runtime(settings) as runtime:
        await resume(runtime, out)
        address_ = f"http://{args.host}:{args.port}"
        if settings.slack_app_token is None:
            banner = f"runbook-bot: Slack over HTTP on {address_}/slack/events  (Ctrl-C to stop)"
            await run_site(runtime.web_app, args.host, args.port, banner, out)
            return 0
        stop = asyncio.Event()
        app_token = settings.slack_app_token.get_secret_value()
        socket_task = asyncio.create_task(
            run_socket_mode(runtime.app, app_token=app_token, client=runtime.client, stop=stop)
        )
        try:
            banner = (
                f"runbook-bot: Slack over Socket Mode; health and metrics on {address_}/healthz"
            )
            await run_site(runtime.web_app, args.host, args.port, banner, out)
        finally:
            stop.set()
            await socket_task
    return 0


async def publish_first_versions(settings: Settings, store: LedgerStore, out: TextIO) -> None:
    """A fresh console has runbooks on disk and nothing published: publish those with no version
    yet, so `/runbook start` works at once. A runbook that already has versions is left alone;
    its edits still need `runbook-bot publish`, so the reviewed version stays the one that runs."""
    if not settings.runbooks_dir.is_dir():
        return
    checked, _ = await load_catalog_and_hooks(settings.runbooks_dir)
    for problem in checked.problems:
        print(problem, file=out)
    fresh = [f for f in checked.runbooks if not await store.versions(f.runbook.name)]
    outcomes = await catalog_service.publish(
        store, fresh, author=CONSOLE_AUTHOR, message="first version, published by the local console"
    )
    for outcome in outcomes:
        print(f"published {outcome.line()}", file=out)


def console_state_file(settings: Settings) -> Path:
    """The console's workspace (channels, messages) is kept beside the ledger it belongs to."""
    return sqlite_path(settings.runbook_db_url).with_suffix(".console.json")


async def serve_console(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """The bot, unchanged, talking to the emulator instead of Slack; the page is the emulator's
    client. Bot and emulator listen apart, as Slack and a bot would."""
    sock = listening(args.host, args.port)
    base = address(sock)
    token, secret = f"xoxb-console-{secrets.token_hex(12)}", secrets.token_hex(16)
    bot_settings = settings.model_copy(
        update={
            "slack_bot_token": SecretStr(token),
            "slack_signing_secret": SecretStr(secret),
            "slack_app_token": None,
            "slack_api_url": f"{base}/api/",
        }
    )
    state_file = console_state_file(settings)
    async with slack_runtime(bot_settings) as runtime:

        def routes(app: web.Application, emulator: Emulator) -> None:
            add_console(app, emulator)
            add_catalog_page(app, settings, runtime.store)

        async with running_emulator(
            load_workspace(state_file),
            token=token,
            signing_secret=secret,
            state_file=state_file,
            sock=sock,
            extra_routes=routes,
        ) as emulator:
            bot_runner, bot_url = await start_site(runtime.web_app)
            emulator.bot_url = f"{bot_url}/slack/events"
            try:
                await publish_first_versions(settings, runtime.store, out)
                await resume(runtime, out)
                print(f"runbook-bot console: {base}/  (Ctrl-C to stop)", file=out, flush=True)
                await wait_for_stop()
            finally:
                await bot_runner.cleanup()
                await runtime.listeners.drain()  # finish posting while the emulator still listens
    return 0


async def serve(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if settings.has_slack_credentials:
        return await serve_slack(args, settings, out)
    return await serve_console(args, settings, out)
