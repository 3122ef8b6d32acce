"""The App Home tab: the catalog with Start buttons, the runs active in the person's channels
(or started by them), and the latest ended runs. Drawn after the event's ack."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import catalog_service
from bot.domain.versions import VersionInfo
from bot.run_service import RunService
from bot.slack.blocks import Block, catalog_blocks
from bot.slack.text import escape, truncate

logger = logging.getLogger("runbook-bot.slack")
RECENT = 10  # ended runs shown


async def channels_of(client: AsyncWebClient, user: str) -> set[str]:
    """Channels the user is in; on an API error, none (they still see runs they started)."""
    try:
        response = await client.users_conversations(
            user=user, types="public_channel,private_channel", limit=1000
        )
    except SlackApiError:
        logger.warning(
            "users.conversations failed for %s; App Home shows only their own runs", user
        )
        return set()
    listed: list[dict[str, Any]] = response.get("channels", [])
    return {str(c["id"]) for c in listed}


def _lines(rows: list[dict[str, Any]], empty: str) -> str:
    return (
        "\n".join(
            f"• `{r['run_id']}` {escape(r['runbook'])} in <#{escape(r['channel'])}>, {r['status']}, by <@{escape(r['requester'])}>"
            for r in rows
        )
        or empty
    )


def home_blocks(
    versions: list[VersionInfo],
    titles: dict[str, str],
    runs: list[dict[str, Any]],
    user: str,
    channels: set[str],
) -> list[Block]:
    """The tab for `user`, who is in `channels`. Pure."""
    active = [
        r
        for r in runs
        if r["status"] == "active" and (r["channel"] in channels or r["requester"] == user)
    ]
    recent = [r for r in reversed(runs) if r["status"] != "active"][:RECENT]
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "Runbooks"}},
        *catalog_blocks(versions, titles)[:40],
        {"type": "header", "text": {"type": "plain_text", "text": "Active runs"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(_lines(active, "None right now."), 2900)},
        },
        {"type": "header", "text": {"type": "plain_text", "text": "Recent runs"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(_lines(recent, "None yet."), 2900)},
        },
    ]


async def publish_home(service: RunService, client: AsyncWebClient, user: str) -> None:
    versions = await catalog_service.defaults(service.store)
    titles = await service.titles(versions)
    runs = await service.store.runs()
    blocks = home_blocks(versions, titles, runs, user, await channels_of(client, user))
    await client.views_publish(user_id=user, view={"type": "home", "blocks": blocks})
