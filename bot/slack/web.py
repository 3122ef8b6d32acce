"""The HTTP side: Slack's signed requests on /slack/events, /healthz and /metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp

from bot.slack.foreground import Foreground
from bot.slack.form_body import to_bolt_request
from bot.slack.metrics import Metrics

EVENTS_PATH = "/slack/events"
APP_KEY = web.AppKey("bolt", AsyncApp)
METRICS_KEY = web.AppKey("metrics", Metrics)
BACKLOG_KEY = web.AppKey("backlog", object)
FOREGROUND_KEY = web.AppKey("foreground", Foreground)


def _kind(body: str) -> str:
    if body.startswith("payload="):
        return "interaction"
    return "command" if "command=" in body else "event"


async def events(request: web.Request) -> web.Response:
    started = time.perf_counter()
    metrics = request.app[METRICS_KEY]
    try:
        bolt_request = await to_bolt_request(request)
    except ValueError:  # a body that is neither Slack's form nor JSON: nothing to act on
        metrics.requests.labels("malformed").inc()
        return web.Response(status=400, text="malformed request")
    kind = _kind(bolt_request.raw_body)
    metrics.requests.labels(kind).inc()
    with request.app[FOREGROUND_KEY].request():
        bolt_response = await request.app[APP_KEY].async_dispatch(bolt_request)
    metrics.ack_seconds.labels(kind).observe(time.perf_counter() - started)
    return await to_aiohttp_response(bolt_response)


async def metrics_page(request: web.Request) -> web.Response:
    backlog = request.app[BACKLOG_KEY]
    metrics = request.app[METRICS_KEY]
    assert callable(backlog)
    metrics.backlog.set(await backlog())
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def build_web_app(
    app: AsyncApp,
    metrics: Metrics,
    backlog: Callable[[], Awaitable[int]],
    foreground: Foreground | None = None,
) -> web.Application:
    web_app = web.Application(client_max_size=1024 * 1024)
    web_app[APP_KEY] = app
    web_app[METRICS_KEY] = metrics
    web_app[BACKLOG_KEY] = backlog
    web_app[FOREGROUND_KEY] = foreground or Foreground()
    web_app.router.add_post(EVENTS_PATH, events)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics_page)
    return web_app
