"""What Slack sends a bot, in Slack's shapes: slash commands, block actions, view submissions
and Events API callbacks. Pure builders; `server.py` signs and delivers them."""

from __future__ import annotations

import time
from typing import Any

from bot.emulator.workspace import Channel, Message, User, View, Workspace

APP_ID = "A0EMULATOR"
VERIFICATION_TOKEN = "emulator-verification-token"  # deprecated by Slack, still sent


def _user(ws: Workspace, user: User) -> dict[str, Any]:
    handle = user.name.split()[0].lower()
    return {"id": user.id, "username": handle, "name": handle, "team_id": ws.team_id}


def _team(ws: Workspace) -> dict[str, Any]:
    return {"id": ws.team_id, "domain": "emulated"}


def slash_command(
    ws: Workspace,
    user: User,
    channel: Channel,
    text: str,
    *,
    command: str,
    trigger_id: str,
    response_url: str,
) -> dict[str, str]:
    """The form fields of a slash command invocation."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": ws.team_id,
        "team_domain": "emulated",
        "channel_id": channel.id,
        "channel_name": "directmessage" if channel.dm_for else channel.name,
        "user_id": user.id,
        "user_name": _user(ws, user)["name"],
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def _action(
    element: dict[str, Any], block_id: str, selected: dict[str, Any] | None
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "action_id": element.get("action_id", ""),
        "block_id": block_id,
        "type": element.get("type", "button"),
        "action_ts": f"{time.time():.6f}",
    }
    if action["type"] == "button":
        action["text"] = element.get("text", {"type": "plain_text", "text": ""})
        if "value" in element:
            action["value"] = element["value"]
    elif action["type"] == "static_select":
        action["selected_option"] = selected
    return action


def _message_shape(message: Message) -> dict[str, Any]:
    return {
        "type": "message",
        "user": message.user,
        "ts": message.ts,
        "text": message.text,
        "blocks": message.blocks or [],
        **({"thread_ts": message.thread_ts} if message.thread_ts else {}),
    }


def view_shape(ws: Workspace, view: View, values: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": view.id,
        "team_id": ws.team_id,
        "type": view.view.get("type", "modal"),
        "private_metadata": "",
        "callback_id": "",
        "hash": f"{view.id}-hash",
        "app_id": APP_ID,
        "bot_id": "B0EMULATOR",
        **view.view,
        "state": {"values": values or {}},
    }


def block_actions(
    ws: Workspace,
    user: User,
    element: dict[str, Any],
    block_id: str,
    *,
    trigger_id: str,
    response_url: str,
    message: Message | None = None,
    channel: Channel | None = None,
    view: View | None = None,
    selected: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A click on a button (or a choice in a select) in a message or a view."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(ws, user),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "team": _team(ws),
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": {}},
        "actions": [_action(element, block_id, selected)],
    }
    if message is not None and channel is not None:
        payload["container"] = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": channel.id,
            "is_ephemeral": message.ephemeral_for is not None,
        }
        payload["channel"] = {"id": channel.id, "name": channel.name}
        payload["message"] = _message_shape(message)
        payload["response_url"] = response_url
    elif view is not None:
        payload["container"] = {"type": "view", "view_id": view.id}
        payload["view"] = view_shape(ws, view)
    return payload


def view_submission(
    ws: Workspace, user: User, view: View, values: dict[str, Any], *, trigger_id: str
) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": _team(ws),
        "user": _user(ws, user),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": view_shape(ws, view, values),
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def event_callback(ws: Workspace, event: dict[str, Any], *, event_id: str) -> dict[str, Any]:
    now = time.time()
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": ws.team_id,
        "api_app_id": APP_ID,
        "event": {**event, "event_ts": f"{now:.6f}"},
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(now),
        "authorizations": [
            {
                "team_id": ws.team_id,
                "user_id": "UBOT00001",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
