"""Everything the Slack bot runs on, opened together and closed together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.catalog import HOOKS_DIR, load_roles
from bot.config import Settings
from bot.domain.runbook import RolesFile
from bot.hooks.registry import load_registry
from bot.ledger.open import open_store, sqlite_path
from bot.ledger.store import LedgerStore
from bot.run_service import RunService
from bot.slack.app import build_app, web_client
from bot.slack.delivery import DeliveryStore
from bot.slack.foreground import Foreground
from bot.slack.listeners import Listeners
from bot.slack.metrics import Metrics
from bot.slack.outbox import Outbox
from bot.slack.roles import SlackRoles
from bot.slack.web import build_web_app


@dataclass
class SlackRuntime:
    app: AsyncApp
    client: AsyncWebClient
    store: LedgerStore
    service: RunService
    listeners: Listeners
    outbox: Outbox
    web_app: web.Application


@asynccontextmanager
async def slack_runtime(settings: Settings) -> AsyncIterator[SlackRuntime]:
    assert settings.slack_bot_token is not None and settings.slack_signing_secret is not None
    session = aiohttp.ClientSession()  # one pool of keep-alive connections to Slack
    client = web_client(
        settings.slack_bot_token.get_secret_value(), settings.slack_api_url, session
    )
    try:
        store = await open_store(settings)
    except BaseException:
        await session.close()
        raise
    delivery = await DeliveryStore.open(sqlite_path(settings.runbook_db_url))
    try:
        registry = await load_registry([settings.runbooks_dir / HOOKS_DIR])
        roles = await load_roles(settings.runbooks_dir) if settings.runbooks_dir.is_dir() else None
        resolver = SlackRoles(roles or RolesFile(), client)

        async def post(channel: str, text: str) -> dict[str, str]:
            response = await client.chat_postMessage(channel=channel, text=text)
            return {"ts": str(response["ts"])}

        service = RunService(store, registry, resolver, post=post)
        metrics = Metrics()

        async def posted(count: int) -> None:
            metrics.posted.inc(count)

        foreground = Foreground()
        outbox = Outbox(store, delivery, client, service, on_posted=posted, foreground=foreground)
        metrics.deliveries.set_function(lambda: len(outbox.pending()))
        listeners = Listeners(store, service, outbox, client, metrics)
        service.defer = listeners.later  # dry-run plans run after the ack, never before it
        service.on_change = outbox.kick
        app = build_app(
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            client=client,
            listeners=listeners,
        )
        web_app = build_web_app(app, metrics, delivery.unsent, foreground)
        try:
            yield SlackRuntime(app, client, store, service, listeners, outbox, web_app)
            await listeners.drain()
        finally:
            await listeners.cancel()
    finally:
        await delivery.close()
        await store.close()
        await session.close()
