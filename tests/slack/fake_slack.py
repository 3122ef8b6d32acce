"""A local stand-in for Slack's Web API: records every call, keeps messages and threads,
and answers 429 (with Retry-After) or 500 on demand. Only what the bot uses."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"


@dataclass
class FakeSlack:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    memberships: dict[str, list[str]] = field(default_factory=dict)  # user -> channels
    faults: dict[str, list[int]] = field(default_factory=dict)  # method -> statuses to answer next
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    url: str = ""
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    connections: int = 0
    replies: list[dict[str, Any]] = field(default_factory=list)

    def fail_next(self, method: str, *statuses: int) -> None:
        self.faults.setdefault(method, []).extend(statuses)

    def thread(self, root_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("thread_ts") == root_ts]

    def roots(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if not m.get("thread_ts")]

    def count(self, method: str) -> int:
        return sum(1 for name, _ in self.calls if name == method)

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token = APP_TOKEN if method == "apps.connections.open" else TOKEN
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        self.calls.append((method, args))
        pending = self.faults.get(method)
        if pending:
            status = pending.pop(0)
            headers = {"Retry-After": "1"} if status == 429 else {}
            return web.json_response(
                {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"},
                status=status,
                headers=headers,
            )
        return web.json_response(self.answer(method, args))

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "apps.connections.open":
            return {
                "ok": True,
                "url": self.url.replace("http://", "ws://").replace("/api/", "/socket"),
            }
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": "UBOT",
                "bot_id": "B1",
                "team_id": "T1",
                "team": "Test",
                "user": "runbook-bot",
                "url": "https://test.slack.com/",
            }
        if method == "chat.postMessage":
            blocks = args.get("blocks")
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            if blocks is not None and len(blocks) > 50:
                return {"ok": False, "error": "invalid_blocks"}
            ts = f"1700000000.{next(self._ts):06d}"
            message = {
                "ts": ts,
                "channel": args["channel"],
                "text": args.get("text", ""),
                "blocks": blocks,
                "thread_ts": args.get("thread_ts"),
            }
            self.messages.append(message)
            return {"ok": True, "channel": args["channel"], "ts": ts, "message": message}
        if method == "chat.update":
            for message in self.messages:
                if message["ts"] == args["ts"]:
                    blocks = args.get("blocks")
                    message.update(
                        text=args.get("text", ""),
                        blocks=json.loads(blocks) if isinstance(blocks, str) else blocks,
                    )
                    return {"ok": True, "channel": args["channel"], "ts": args["ts"]}
            return {"ok": False, "error": "message_not_found"}
        if method == "chat.postEphemeral":
            self.ephemerals.append(args)
            return {"ok": True, "message_ts": "1700000000.999999"}
        if method == "views.open":
            self.views.append(args)
            return {"ok": True, "view": {"id": f"V{len(self.views)}"}}
        if method == "conversations.replies":
            return {
                "ok": True,
                "messages": [
                    m
                    for m in self.messages
                    if m["ts"] == args["ts"] or m.get("thread_ts") == args["ts"]
                ],
            }
        if method == "users.conversations":
            return {
                "ok": True,
                "channels": [{"id": c} for c in self.memberships.get(args.get("user", ""), [])],
            }
        if method == "usergroups.users.list":
            return {"ok": True, "users": self.groups.get(args.get("usergroup", ""), [])}
        return {"ok": False, "error": "unknown_method"}

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: say hello, deliver envelopes the test sends, collect the bot's acks."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}})
        async for message in ws:
            if message.type == web.WSMsgType.TEXT:
                self.replies.append(json.loads(message.data))
        return ws

    async def deliver(self, envelope: dict[str, Any]) -> None:
        live = [ws for ws in self.sockets if not ws.closed]
        await live[-1].send_json(envelope)

    async def drop_connections(self) -> None:
        for ws in self.sockets:
            if not ws.closed:
                await ws.close()


@asynccontextmanager
async def running_fake() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    app = web.Application()
    app.router.add_route("*", "/api/{method}", fake.handle)
    app.router.add_get("/socket", fake.socket)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}/api/"
    try:
        yield fake
    finally:
        await runner.cleanup()
