"""The emulator as a server: Slack's Web API on /api/{method} (and Socket Mode on /socket), and a
driver that sends the bot what Slack sends, signed with the signing secret."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from bot.emulator.faults import Fault, FaultKind, Faults
from bot.emulator.people import Answer, EmulatorError, PeopleActions
from bot.emulator.site import start_site
from bot.emulator.web_api import call
from bot.emulator.workspace import BOT_USER, Workspace, write_whole

logger = logging.getLogger("runbook-bot.emulator")
MAX_RESPONSE_URLS = 1000
SAVE_EVERY = 0.25  # seconds between writes of the workspace file, at most


FORM = "application/x-www-form-urlencoded"


def interactive_body(payload: dict[str, Any]) -> str:
    """How Slack POSTs an interaction: a form with one field, the JSON payload."""
    return urlencode({"payload": json.dumps(payload)})


@dataclass
class Emulator(PeopleActions):
    workspace: Workspace
    token: str
    signing_secret: str
    app_token: str | None = None
    bot_url: str = ""  # where Slack POSTs: the bot's /slack/events
    base_url: str = ""  # this server, once it listens
    state_file: Path | None = None
    faults: Faults = field(default_factory=Faults)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    connections: int = 0
    replies: list[dict[str, Any]] = field(default_factory=list)
    _waiting: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _responses: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _session: aiohttp.ClientSession | None = None
    _write_in_flight: asyncio.Future[None] | None = None

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def count(self, method: str) -> int:
        return sum(1 for name, _ in self.calls if name == method)

    def fail_next(self, method: str, kind: FaultKind | str, count: int = 1, **how: Any) -> None:
        """The next `count` calls of `method` answer 429, 500, slowly or with ok: false."""
        self.faults.next_calls(method, Fault(FaultKind(kind), **how), count)

    # ---- the Web API ----------------------------------------------------------------------

    async def api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        auth = request.headers.get("Authorization", "")
        token = (
            auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.pop("token", "")
        )
        if not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        expected = self.app_token if method == "apps.connections.open" else self.token
        if token != expected:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        self.calls.append((method, args))
        fault = self.faults.take(method)
        if fault is not None:
            if fault.kind is FaultKind.RATE_LIMITED:
                return web.json_response(
                    {"ok": False, "error": "ratelimited"},
                    status=429,
                    headers={"Retry-After": str(fault.retry_after)},
                )
            if fault.kind is FaultKind.SERVER_ERROR:
                return web.Response(status=500, text="Internal Server Error")
            if fault.kind is FaultKind.ERROR:
                return web.json_response({"ok": False, "error": fault.error})
            await asyncio.sleep(fault.delay)
        if method == "apps.connections.open":
            socket = self.base_url.replace("http://", "ws://") + "/socket"
            return web.json_response({"ok": True, "url": socket})
        return web.json_response(call(self.workspace, method, args))

    # ---- Socket Mode ----------------------------------------------------------------------

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        """Say hello, deliver envelopes, and match the bot's acks to what is waiting for them."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        self.sockets.append(ws)
        await ws.send_json(
            {"type": "hello", "num_connections": 1, "debug_info": {"host": "emulator"}}
        )
        async for message in ws:
            if message.type == web.WSMsgType.TEXT:
                reply = json.loads(message.data)
                self.replies.append(reply)
                waiting = self._waiting.pop(str(reply.get("envelope_id")), None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(reply.get("payload") or {})
        return ws

    def _live_socket(self) -> web.WebSocketResponse | None:
        return next((ws for ws in reversed(self.sockets) if not ws.closed), None)

    async def deliver(self, envelope: dict[str, Any]) -> None:
        """Send a raw Socket Mode envelope on the newest live connection."""
        socket = self._live_socket()
        if socket is None:
            raise EmulatorError("the bot has no Socket Mode connection open")
        await socket.send_json(envelope)

    async def drop_connections(self) -> None:
        for ws in self.sockets:
            if not ws.closed:
                await ws.close()

    # ---- delivering to the bot --------------------------------------------------------------

    def signed_headers(self, body: str, content_type: str) -> dict[str, str]:
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(self.signing_secret).generate_signature(
            timestamp=timestamp, body=body
        )
        return {
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or "",
            "Content-Type": content_type,
        }

    async def _send(self, kind: str, payload: dict[str, Any]) -> Answer:
        """Over Socket Mode when the bot holds a connection, else a signed POST, as Slack does."""
        socket = self._live_socket()
        if socket is not None:
            envelope_id = secrets.token_hex(8)
            waiting: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._waiting[envelope_id] = waiting
            await socket.send_json(
                {
                    "envelope_id": envelope_id,
                    "type": kind,
                    "payload": payload,
                    "accepts_response_payload": kind != "events_api",
                    "retry_attempt": 0,
                    "retry_reason": "",
                }
            )
            try:
                return Answer(200, await asyncio.wait_for(waiting, 3.0))
            except TimeoutError:
                self._waiting.pop(envelope_id, None)
                return Answer(504, {"text": "The bot did not acknowledge within 3 seconds."})
        if kind == "slash_commands":
            body, content_type = urlencode(payload), FORM
        elif kind == "interactive":
            body, content_type = interactive_body(payload), FORM
        else:
            body, content_type = json.dumps(payload), "application/json"
        return await self.post_signed(body, self.signed_headers(body, content_type))

    async def post_signed(
        self, body: str, headers: dict[str, str], url: str | None = None
    ) -> Answer:
        """POST a body to the bot (or `url`) as is; tests forge and replay through this."""
        url = url or self.bot_url
        if not url:
            raise EmulatorError("no bot is connected to the emulator")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                url,
                data=body.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=3),
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Answer(504, {"text": f"The bot did not answer within 3 seconds ({exc!r})."})
        if text.startswith("{"):
            return Answer(status, json.loads(text))
        return Answer(status, {"text": text} if text else {})

    def _response_url(self, user: str, channel: str, ts: str | None = None) -> str:
        token = secrets.token_hex(8)
        self._responses[token] = (user, channel, ts)
        if len(self._responses) > MAX_RESPONSE_URLS:  # the oldest expire, as Slack's do
            del self._responses[next(iter(self._responses))]
        return f"{self.base_url}/emulator/respond/{token}"

    def _respond(self, user: str, channel: str, body: dict[str, Any]) -> None:
        """What the bot answers a person: in the channel, or shown only to them."""
        if not body.get("text") and not body.get("blocks"):
            return
        text, blocks = str(body.get("text", "")), body.get("blocks")
        shown_to = None if body.get("response_type") == "in_channel" else user
        self.workspace.post(channel, BOT_USER, text, blocks, ephemeral_for=shown_to)

    async def respond(self, request: web.Request) -> web.Response:
        """A response_url: messages the bot sends back to whoever invoked it."""
        target = self._responses.get(request.match_info["token"])
        if target is None:
            return web.json_response({"ok": False, "error": "expired_url"}, status=404)
        user, channel, ts = target
        body = await request.json()
        original = self.workspace.message(channel, ts) if ts else None
        if original is not None and body.get("delete_original"):
            self.workspace.remove(original)
        elif original is not None and body.get("replace_original"):
            original.text = str(body.get("text", original.text))
            original.blocks = body.get("blocks", original.blocks)
            original.edited = True
            self.workspace.touch()
        else:
            self._respond(user, channel, body)
        return web.json_response({"ok": True})

    # ---- control, for tests and harnesses -----------------------------------------------------

    async def control_faults(self, request: web.Request) -> web.Response:
        """POST {"method", "kind", "count", "delay"} | {"random": {"rate", "seed"}} | {"clear": true}."""
        body = await request.json()
        try:
            if body.get("clear"):
                self.faults.clear()
            elif "random" in body:
                chance = body["random"]
                methods = chance.get("methods")
                self.faults.at_random(
                    float(chance["rate"]),
                    tuple(
                        FaultKind(k)
                        for k in chance.get("kinds", ["ratelimited", "server_error", "slow"])
                    ),
                    methods=frozenset(methods) if methods else None,
                    seed=int(chance.get("seed", 0)),
                    delay=float(chance.get("delay", 0.5)),
                )
            else:
                how = {k: body[k] for k in ("delay", "retry_after", "error") if k in body}
                self.fail_next(body["method"], body["kind"], int(body.get("count", 1)), **how)
        except (KeyError, ValueError, TypeError) as exc:
            return web.json_response({"ok": False, "error": f"bad fault: {exc}"}, status=400)
        return web.json_response({"ok": True})

    async def control_state(self, request: web.Request) -> web.Response:
        return web.Response(text=self.workspace.to_json(), content_type="application/json")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self.api)
        app.router.add_get("/socket", self.socket)
        app.router.add_post("/emulator/respond/{token}", self.respond)
        app.router.add_post("/emulator/faults", self.control_faults)
        app.router.add_get("/emulator/state", self.control_state)

    # ---- lifetime ------------------------------------------------------------------------------

    async def keep_saved(self) -> None:
        """Write the workspace file after changes, at most every SAVE_EVERY seconds."""
        assert self.state_file is not None
        while True:
            await self.workspace.changed().wait()
            # Shielded and remembered: cancelling the saver must not leave a write running in
            # its thread while close_session writes the same file.
            self._write_in_flight = asyncio.ensure_future(
                asyncio.to_thread(write_whole, self.state_file, self.workspace.to_json())
            )
            await asyncio.shield(self._write_in_flight)
            await asyncio.sleep(SAVE_EVERY)

    async def close_session(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._write_in_flight is not None:
            await self._write_in_flight
            self._write_in_flight = None
        if self.state_file is not None:
            self.workspace.save(self.state_file)


def load_workspace(state_file: Path | None) -> Workspace:
    """The saved workspace when there is one, else the demo workspace."""
    if state_file is not None and state_file.exists():
        try:
            return Workspace.from_json(state_file.read_text(encoding="utf-8"))
        except (ValueError, KeyError, TypeError):
            logger.warning(
                "the console's saved workspace %s is unreadable; starting afresh", state_file
            )
    return Workspace.demo()


@asynccontextmanager
async def running_emulator(
    workspace: Workspace | None = None,
    *,
    token: str | None = None,
    signing_secret: str | None = None,
    app_token: str | None = None,
    state_file: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    sock: socket.socket | None = None,
    extra_routes: Callable[[web.Application, Emulator], None] | None = None,
) -> AsyncIterator[Emulator]:
    """An emulator listening on host:port; tokens and signing secret are made up if not given."""
    emulator = Emulator(
        workspace=workspace if workspace is not None else Workspace.demo(),
        token=token or f"xoxb-emulator-{secrets.token_hex(12)}",
        signing_secret=signing_secret or secrets.token_hex(16),
        app_token=app_token,
        state_file=state_file,
    )
    app = web.Application(client_max_size=2 * 1024 * 1024)
    emulator.add_routes(app)
    if extra_routes is not None:
        extra_routes(app, emulator)
    runner, emulator.base_url = await start_site(app, host, port, sock)
    saver = asyncio.create_task(emulator.keep_saved()) if state_file is not None else None
    try:
        yield emulator
    finally:
        if saver is not None:
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
        await emulator.close_session()
        await runner.cleanup()


__all__ = ["Emulator", "running_emulator"]
