"""The bolt AsyncApp, built by a factory from what it needs; nothing happens at import time."""

from __future__ import annotations

import logging
import re

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.listeners import Listeners
from bot.slack.modals import PARAMS, REASON

COMMAND = "/runbook"
EVENTS = (
    "app_home_opened",
)  # keep manifest.yml's bot_events in step (tests/slack/test_manifest.py)


def web_client(
    token: str, base_url: str, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """slack_sdk retries only connection errors by default; rate limits (honouring Retry-After)
    and server errors need their own handlers. Without `session` the SDK opens a new
    connection for every call, which was the largest share of the outbox's CPU under load."""
    client = AsyncWebClient(token=token, base_url=base_url, session=session)
    client.retry_handlers.extend(
        [
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
            AsyncServerErrorRetryHandler(max_retry_count=3),
        ]
    )
    if not any(isinstance(h, AsyncConnectionErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(AsyncConnectionErrorRetryHandler())
    return client


class TokenFromEnvironment(logging.Filter):
    """bolt reads SLACK_BOT_TOKEN from the environment itself and, given our client as well,
    warns at every start that the token will be unused. Our client was built from that same
    setting, so the warning only alarms whoever reads the log; this drops it, and only it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def build_app(*, signing_secret: str, client: AsyncWebClient, listeners: Listeners) -> AsyncApp:
    """Every listener acks and then only schedules background work (posts, modals, App Home),
    so bolt can answer Slack the moment a listener returns. In its default mode bolt runs the
    listener in a task and looks for the ack every 10 ms, which put a 10 ms floor under every
    acknowledgement and a second tick under most of them when clicks came in bursts."""
    bolt_logger = logging.getLogger(f"slack_bolt.{AsyncApp.__name__}")
    if not any(isinstance(f, TokenFromEnvironment) for f in bolt_logger.filters):
        bolt_logger.addFilter(TokenFromEnvironment())
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=True)
    app.command(COMMAND)(listeners.command)
    app.action(re.compile(r"^runbook\.(step|approval|run)\.|^runbook\.start$"))(listeners.action)
    app.view(REASON)(listeners.reason)
    app.view(PARAMS)(listeners.params_submitted)
    app.event("app_home_opened")(listeners.home)
    return app
