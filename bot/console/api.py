"""The console's side of the emulator: what a person in the browser sees and does.

The page asks for the workspace as one person sees it, listens for changes over server-sent
events, and sends what that person types or clicks; the emulator turns each into the signed
request Slack would send the bot."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from importlib.resources import files
from typing import Any

from aiohttp import web

from bot.emulator.people import EmulatorError
from bot.emulator.server import Emulator
from bot.emulator.workspace import Message, Workspace

EMULATOR_KEY = web.AppKey("emulator", Emulator)
CLOSING_KEY = web.AppKey("closing", asyncio.Event)
HEARTBEAT_SECONDS = 15.0
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}


def _message(message: Message, workspace: Workspace) -> dict[str, Any]:
    out = asdict(message)
    out["reply_count"] = len(workspace.thread(message.ts)) if message.thread_ts is None else 0
    return out


def snapshot(workspace: Workspace, user: str) -> dict[str, Any]:
    """Everything `user` can see: their channels and threads, their ephemerals, modal and Home."""
    channels = workspace.memberships(user)
    visible = {c.id for c in channels}
    messages = [m for m in workspace.messages if m.channel in visible]
    messages += [m for m in workspace.ephemerals if m.ephemeral_for == user]
    messages.sort(key=lambda m: tuple(int(part) for part in m.ts.split(".")))
    modals = [v for v in workspace.views.values() if v.kind == "modal" and v.user == user]
    home_id = workspace.homes.get(user)
    home = workspace.views.get(home_id) if home_id else None
    return {
        "version": workspace.version,
        "team": workspace.team,
        "me": user,
        "users": [asdict(u) for u in workspace.users.values()],
        "channels": [
            {"id": c.id, "name": c.name, "dm": c.dm_for is not None}
            for c in sorted(channels, key=lambda c: (c.dm_for is not None, c.name))
        ],
        "messages": [_message(m, workspace) for m in messages],
        "modal": asdict(modals[-1]) if modals else None,
        "home": asdict(home) if home else None,
    }


def _emulator(request: web.Request) -> Emulator:
    return request.app[EMULATOR_KEY]


async def page(request: web.Request) -> web.Response:
    html = files("bot.console").joinpath("console.html").read_text(encoding="utf-8")
    return web.Response(text=html, content_type="text/html")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    text = files("bot.console").joinpath(name).read_text(encoding="utf-8")
    return web.Response(text=text, content_type=STATIC[name])


async def state(request: web.Request) -> web.Response:
    workspace = _emulator(request).workspace
    user = request.query.get("user", "")
    if user not in workspace.users:
        return web.json_response({"error": f"There is no person {user!r} here."}, status=400)
    return web.json_response(snapshot(workspace, user))


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the workspace's version after every change, and a heartbeat."""
    workspace = _emulator(request).workspace
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    await response.write(f"data: {workspace.version}\n\n".encode())
    closing = request.app[CLOSING_KEY]
    try:
        while not closing.is_set():
            changed = workspace.changed()
            waits = [asyncio.ensure_future(changed.wait()), asyncio.ensure_future(closing.wait())]
            try:
                await asyncio.wait(waits, timeout=HEARTBEAT_SECONDS, return_when="FIRST_COMPLETED")
            finally:
                for waiting in waits:
                    waiting.cancel()
            await response.write(f"data: {workspace.version}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


async def _close_streams(app: web.Application) -> None:
    """On shutdown the event streams end, so the server does not wait for browsers."""
    app[CLOSING_KEY].set()


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="The request body is not a JSON object.")
    return body


def _answer(answer: Any) -> web.Response:
    return web.json_response({"status": answer.status, "body": answer.body})


def _refused(exc: Exception) -> web.Response:
    return web.json_response({"error": str(exc)}, status=400)


async def say(request: web.Request) -> web.Response:
    """The composer: `/runbook ...` goes to the bot; anything else is a message in the channel."""
    emulator = _emulator(request)
    body = await _body(request)
    user, channel, text = str(body.get("user")), str(body.get("channel")), str(body.get("text", ""))
    try:
        stripped = text.strip()
        if stripped.startswith("/"):
            command, _, rest = stripped.partition(" ")
            if command != "/runbook":
                raise EmulatorError(
                    f"{command} is not a valid command. This workspace has /runbook."
                )
            return _answer(await emulator.slash(user, channel, rest.strip()))
        emulator.say(user, channel, stripped, thread_ts=body.get("thread_ts") or None)
    except EmulatorError as exc:
        return _refused(exc)
    return web.json_response({"status": 200, "body": {}})


async def click(request: web.Request) -> web.Response:
    emulator = _emulator(request)
    body = await _body(request)
    try:
        if body.get("view_id"):
            answer = await emulator.click_view(
                str(body.get("user")),
                str(body["view_id"]),
                str(body.get("action_id")),
                block_id=body.get("block_id"),
                option=body.get("option"),
            )
        else:
            answer = await emulator.click(
                str(body.get("user")),
                str(body.get("channel")),
                str(body.get("ts")),
                str(body.get("action_id")),
                block_id=body.get("block_id"),
                option=body.get("option"),
            )
    except EmulatorError as exc:
        return _refused(exc)
    return _answer(answer)


async def submit(request: web.Request) -> web.Response:
    emulator = _emulator(request)
    body = await _body(request)
    values = body.get("values")
    try:
        if not isinstance(values, dict):
            raise EmulatorError("values must be an object in Slack's view state shape")
        answer = await emulator.submit(str(body.get("user")), str(body.get("view_id")), values)
    except EmulatorError as exc:
        return _refused(exc)
    return _answer(answer)


async def close(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        _emulator(request).close(str(body.get("user")), str(body.get("view_id")))
    except EmulatorError as exc:
        return _refused(exc)
    return web.json_response({"status": 200, "body": {}})


async def home(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        return _answer(await _emulator(request).open_home(str(body.get("user"))))
    except EmulatorError as exc:
        return _refused(exc)


async def dismiss(request: web.Request) -> web.Response:
    body = await _body(request)
    _emulator(request).dismiss(str(body.get("user")), str(body.get("ts")))
    return web.json_response({"status": 200, "body": {}})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def add_console(app: web.Application, emulator: Emulator) -> None:
    app[EMULATOR_KEY] = emulator
    app[CLOSING_KEY] = asyncio.Event()
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/", page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/console/api/state", state)
    app.router.add_get("/console/api/stream", stream)
    app.router.add_post("/console/api/say", say)
    app.router.add_post("/console/api/click", click)
    app.router.add_post("/console/api/submit", submit)
    app.router.add_post("/console/api/close", close)
    app.router.add_post("/console/api/home", home)
    app.router.add_post("/console/api/dismiss", dismiss)
