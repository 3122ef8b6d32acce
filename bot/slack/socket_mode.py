"""Socket Mode: Slack delivers requests over a WebSocket the bot opens with an app-level token,
so no public URL is needed. slack_sdk's client has had reconnection bugs, so a watchdog checks
the connection and rebuilds the client when it has dropped."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger("runbook-bot.socket-mode")
CHECK_SECONDS = 10.0


async def _connect(
    app: AsyncApp, app_token: str, client: AsyncWebClient, auto_reconnect: bool
) -> AsyncSocketModeHandler:
    handler = AsyncSocketModeHandler(app, app_token, web_client=client)
    handler.client.default_auto_reconnect_enabled = auto_reconnect  # connect() resets to this
    handler.client.auto_reconnect_enabled = auto_reconnect
    await handler.connect_async()  # type: ignore[no-untyped-call]
    return handler


async def run_socket_mode(
    app: AsyncApp,
    *,
    app_token: str,
    client: AsyncWebClient,
    stop: asyncio.Event,
    check_seconds: float = CHECK_SECONDS,
    auto_reconnect: bool = True,
) -> int:
    """Serve until `stop` is set; returns how many times the watchdog rebuilt the connection.
    `auto_reconnect` is slack_sdk's own reconnection, which the watchdog backs up."""
    handler = await _connect(app, app_token, client, auto_reconnect)
    rebuilt = 0
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), check_seconds)
            if stop.is_set() or await handler.client.is_connected():
                continue
            logger.warning("the Socket Mode connection dropped; rebuilding the client")
            with contextlib.suppress(Exception):
                await handler.close_async()  # type: ignore[no-untyped-call]
            try:
                handler = await _connect(app, app_token, client, auto_reconnect)
                rebuilt += 1
            except Exception as exc:  # Slack unreachable: try again on the next check
                logger.exception("reconnecting to Slack failed", exc_info=exc)
    finally:
        with contextlib.suppress(Exception):
            await handler.close_async()  # type: ignore[no-untyped-call]
    return rebuilt
