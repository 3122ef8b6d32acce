"""The Web API methods the bot uses, answering in Slack's response shapes and refusing what
Slack refuses (unknown channels, missing arguments, Block Kit over its limits)."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from bot.emulator.limits import check_message, check_view
from bot.emulator.workspace import BOT_USER, Message, View, Workspace

Method = Callable[[Workspace, dict[str, Any]], dict[str, Any]]


class SlackError(Exception):
    """Answered as {"ok": false, "error": code}."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code, self.detail = code, detail

    def response(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"ok": False, "error": self.code}
        if self.detail:
            answer["response_metadata"] = {"messages": [f"[ERROR] {self.detail}"]}
        return answer


def _required(args: dict[str, Any], *names: str) -> None:
    missing = [n for n in names if not args.get(n)]
    if missing:
        raise SlackError("invalid_arguments", f"missing required field: {missing[0]}")


def _json_arg(args: dict[str, Any], name: str) -> Any:
    """Form-encoded calls carry blocks and views as JSON strings; JSON calls carry objects."""
    value = args.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise SlackError(f"invalid_{name}", f"{name} is not valid JSON") from None
    return value


def with_block_ids(blocks: Any) -> Any:
    """Slack gives every block without a block_id one of its own; clicks name the block."""
    if not isinstance(blocks, list):
        return blocks
    return [
        {**b, "block_id": secrets.token_urlsafe(4)}
        if isinstance(b, dict) and not b.get("block_id")
        else b
        for b in blocks
    ]


def _message_blocks(args: dict[str, Any]) -> Any:
    """The message's blocks, refused as Slack refuses text and Block Kit over its limits."""
    blocks = _json_arg(args, "blocks")
    if (breach := check_message(args.get("text"), blocks)) is not None:
        raise SlackError(breach.error, breach.message.removeprefix("[ERROR] "))
    return blocks


def _message_out(message: Message) -> dict[str, Any]:
    out = {k: v for k, v in asdict(message).items() if v is not None and k != "ephemeral_for"}
    out.update(type="message", bot_id="B0EMULATOR")
    return out


def auth_test(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": True,
        "url": "https://emulated.slack.invalid/",
        "team": ws.team,
        "user": "runbook-bot",
        "team_id": ws.team_id,
        "user_id": BOT_USER,
        "bot_id": "B0EMULATOR",
    }


def _channel(ws: Workspace, args: dict[str, Any]) -> str:
    _required(args, "channel")
    channel = ws.channel(str(args["channel"]))
    if channel is None:
        raise SlackError("channel_not_found")
    return channel.id


def chat_post_message(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    channel = _channel(ws, args)
    blocks = _message_blocks(args)
    thread_ts = args.get("thread_ts") or None
    if thread_ts is not None and ws.message(channel, str(thread_ts)) is None:
        raise SlackError("thread_not_found")
    message = ws.post(
        channel,
        BOT_USER,
        str(args.get("text") or ""),
        with_block_ids(blocks),
        thread_ts=str(thread_ts) if thread_ts else None,
    )
    return {"ok": True, "channel": channel, "ts": message.ts, "message": _message_out(message)}


def chat_update(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    channel = _channel(ws, args)
    _required(args, "ts")
    message = ws.message(channel, str(args["ts"]))
    if message is None:
        raise SlackError("message_not_found")
    if message.user != BOT_USER:
        raise SlackError("cant_update_message")
    blocks = _message_blocks(args)
    message.text = str(args.get("text") or "")
    if blocks is not None:
        message.blocks = with_block_ids(blocks)
    message.edited = True
    ws.touch()
    return {"ok": True, "channel": channel, "ts": message.ts, "text": message.text}


def chat_post_ephemeral(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    channel_id = _channel(ws, args)
    _required(args, "user")
    user = str(args["user"])
    channel = ws.channels[channel_id]
    if user not in ws.users:
        raise SlackError("user_not_found")
    if user not in channel.members:
        raise SlackError("user_not_in_channel")
    blocks = _message_blocks(args)
    message = ws.post(
        channel_id,
        BOT_USER,
        str(args.get("text") or ""),
        with_block_ids(blocks),
        thread_ts=args.get("thread_ts") or None,
        ephemeral_for=user,
    )
    return {"ok": True, "message_ts": message.ts}


def _view_arg(args: dict[str, Any]) -> dict[str, Any]:
    _required(args, "view")
    view = _json_arg(args, "view")
    if (breach := check_view(view)) is not None:
        raise SlackError(breach.error, breach.message.removeprefix("[ERROR] "))
    assert isinstance(view, dict)
    return {**view, "blocks": with_block_ids(view.get("blocks", []))}


def _view_out(view: View) -> dict[str, Any]:
    return {
        "id": view.id,
        "team_id": "T0EMULATOR",
        "hash": secrets.token_hex(8),
        "state": {"values": {}},
        **view.view,
    }


def views_open(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    _required(args, "trigger_id")
    view = _view_arg(args)
    trigger = ws.redeem_trigger(str(args["trigger_id"]))
    if isinstance(trigger, str):
        raise SlackError(trigger)
    opened = View(id=f"V{secrets.token_hex(5).upper()}", user=trigger.user, view=view)
    ws.views[opened.id] = opened
    ws.touch()
    return {"ok": True, "view": _view_out(opened)}


def views_update(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    _required(args, "view_id")
    view = _view_arg(args)
    shown = ws.views.get(str(args["view_id"]))
    if shown is None:
        raise SlackError("not_found")
    shown.view, shown.errors = view, {}
    ws.touch()
    return {"ok": True, "view": _view_out(shown)}


def views_publish(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    _required(args, "user_id")
    view = _view_arg(args)
    user = str(args["user_id"])
    if user not in ws.users:
        raise SlackError("user_not_found")
    if view.get("type") != "home":
        raise SlackError("invalid_arguments", "views.publish takes a home view")
    view_id = ws.homes.get(user) or f"V{secrets.token_hex(5).upper()}"
    ws.homes[user] = view_id
    ws.views[view_id] = View(id=view_id, user=user, view=view, kind="home")
    ws.touch()
    return {"ok": True, "view": _view_out(ws.views[view_id])}


def usergroups_users_list(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    _required(args, "usergroup")
    group = str(args["usergroup"])
    if group not in ws.groups:
        raise SlackError("no_such_subteam")
    return {"ok": True, "users": list(ws.groups[group])}


def users_info(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    _required(args, "user")
    user = ws.users.get(str(args["user"]))
    if user is None:
        raise SlackError("user_not_found")
    return {
        "ok": True,
        "user": {
            "id": user.id,
            "team_id": ws.team_id,
            "name": user.name.split()[0].lower(),
            "real_name": user.name,
            "is_bot": user.is_bot,
            "profile": {"real_name": user.name, "display_name": user.name, "title": user.title},
        },
    }


def _channel_out(ws: Workspace, channel_id: str) -> dict[str, Any]:
    channel = ws.channels[channel_id]
    return {
        "id": channel.id,
        "name": channel.name,
        "is_channel": channel.dm_for is None,
        "is_im": channel.dm_for is not None,
        "is_member": BOT_USER in channel.members,
        "num_members": len(channel.members),
    }


def conversations_info(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "channel": _channel_out(ws, _channel(ws, args))}


def conversations_replies(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    channel = _channel(ws, args)
    _required(args, "ts")
    root = ws.message(channel, str(args["ts"]))
    if root is None:
        raise SlackError("thread_not_found")
    replies = [root, *ws.thread(root.ts)]
    return {
        "ok": True,
        "messages": [_message_out(m) for m in replies],
        "has_more": False,
        "response_metadata": {"next_cursor": ""},
    }


def _ts_key(ts: str, error: str = "invalid_ts") -> tuple[int, int]:
    """A ts as Slack orders it: seconds, then the six-digit sequence after the dot."""
    seconds, _, fraction = ts.partition(".")
    if not seconds.isdigit() or not (fraction.isdigit() or fraction == ""):
        raise SlackError(error)
    return int(seconds), int(fraction.ljust(6, "0")[:6])


def conversations_history(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """The channel's top-level messages, newest first, as Slack pages them: `oldest` and
    `latest` bound the ts (exclusive unless `inclusive`), `limit` at most 999, an opaque cursor."""
    channel = _channel(ws, args)
    try:
        limit = min(int(args.get("limit") or 100), 999)
    except ValueError:
        raise SlackError("invalid_limit") from None
    inclusive = str(args.get("inclusive", "")).lower() in ("1", "true")
    oldest = _ts_key(str(args["oldest"]), "invalid_ts_oldest") if args.get("oldest") else None
    latest = _ts_key(str(args["latest"]), "invalid_ts_latest") if args.get("latest") else None
    cursor = str(args.get("cursor") or "")
    if cursor:
        try:
            decoded = base64.b64decode(cursor, validate=True).decode()
            before = _ts_key(decoded.removeprefix("next_ts:"), "invalid_cursor")
        except (binascii.Error, UnicodeDecodeError):
            raise SlackError("invalid_cursor") from None
        latest, inclusive_latest = before, False
    else:
        inclusive_latest = inclusive
    chosen = []
    for message in sorted(ws.roots(channel), key=lambda m: _ts_key(m.ts), reverse=True):
        key = _ts_key(message.ts)
        if latest is not None and (key > latest or (key == latest and not inclusive_latest)):
            continue
        if oldest is not None and (key < oldest or (key == oldest and not inclusive)):
            break
        chosen.append(message)
        if len(chosen) > limit:
            break
    more = len(chosen) > limit
    page = chosen[:limit]
    next_cursor = base64.b64encode(f"next_ts:{page[-1].ts}".encode()).decode() if more else ""
    return {
        "ok": True,
        "messages": [_message_out(m) for m in page],
        "has_more": more,
        "pin_count": 0,
        "response_metadata": {"next_cursor": next_cursor},
    }


def users_conversations(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    user = str(args.get("user") or BOT_USER)
    if user not in ws.users:
        raise SlackError("user_not_found")
    channels = [_channel_out(ws, c.id) for c in ws.memberships(user) if c.dm_for is None]
    return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}


METHODS: dict[str, Method] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.postEphemeral": chat_post_ephemeral,
    "views.open": views_open,
    "views.update": views_update,
    "views.publish": views_publish,
    "usergroups.users.list": usergroups_users_list,
    "users.info": users_info,
    "conversations.info": conversations_info,
    "conversations.replies": conversations_replies,
    "conversations.history": conversations_history,
    "users.conversations": users_conversations,
}


def call(ws: Workspace, method: str, args: dict[str, Any]) -> dict[str, Any]:
    implementation = METHODS.get(method)
    if implementation is None:
        return {"ok": False, "error": "unknown_method"}
    try:
        return implementation(ws, args)
    except SlackError as exc:
        return exc.response()
