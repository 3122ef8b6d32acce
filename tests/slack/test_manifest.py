"""manifest.yml declares exactly what the app registers and the scopes its Web API calls need."""

from __future__ import annotations

import ast
from pathlib import Path

from ruamel.yaml import YAML

from bot.slack.app import COMMAND, EVENTS
from bot.slack.web import EVENTS_PATH
from tests.conftest import REPO

# Web API methods the bot calls, and the bot scope each needs (none for views.*).
SCOPES_BY_METHOD = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "conversations_replies": "channels:history",
    "conversations_history": "channels:history",
    "usergroups_users_list": "usergroups:read",
    "views_open": None,
    "views_publish": None,
    "users_conversations": "channels:read",
}


def manifest() -> dict:  # type: ignore[type-arg]
    return dict(YAML(typ="safe").load((REPO / "manifest.yml").read_text(encoding="utf-8")))


def methods_called() -> set[str]:
    """Every Web API call, `client.<method>(` or `self.client.<method>(`, in bot/."""
    found = set()
    for path in (REPO / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            web_client = (isinstance(owner, ast.Name) and owner.id == "client") or (
                isinstance(owner, ast.Attribute)
                and owner.attr == "client"
                and isinstance(owner.value, ast.Name)
                and owner.value.id == "self"
            )
            if web_client:
                found.add(node.func.attr)
    return found


def test_slash_command_events_and_urls_match_the_app() -> None:
    m = manifest()
    [command] = m["features"]["slash_commands"]
    assert command["command"] == COMMAND
    assert command["url"].endswith(EVENTS_PATH)
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["interactivity"]["request_url"].endswith(EVENTS_PATH)
    assert m["settings"]["event_subscriptions"]["request_url"].endswith(EVENTS_PATH)
    assert tuple(m["settings"]["event_subscriptions"]["bot_events"]) == EVENTS
    assert m["features"]["app_home"]["home_tab_enabled"] is True


def test_every_web_api_call_has_its_scope() -> None:
    called = methods_called()
    assert called <= set(SCOPES_BY_METHOD), (
        f"add the scope of {called - set(SCOPES_BY_METHOD)} here and to manifest.yml"
    )
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    needed = {SCOPES_BY_METHOD[m] for m in called} - {None} | {"commands"}
    assert needed <= scopes
    assert Path(REPO / "docs" / "slack.md").read_text(encoding="utf-8").count("manifest.yml") >= 1
