"""Roles from roles.yml, with Slack user groups resolved through usergroups.users.list."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.runbook import RolesFile

CACHE_SECONDS = 60


@dataclass
class SlackRoles:
    roles: RolesFile
    client: AsyncWebClient
    _groups: dict[str, tuple[float, set[str]]] = field(default_factory=dict)

    async def members(self, group: str) -> set[str]:
        cached = self._groups.get(group)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            response = await self.client.usergroups_users_list(usergroup=group)
            listed: list[str] = response.get("users", [])
            users = {str(u) for u in listed}
        except SlackApiError:
            users = (
                cached[1] if cached else set()
            )  # keep the last answer rather than lock everyone out
        self._groups[group] = (time.monotonic(), users)
        return users

    async def __call__(self, actor: str) -> set[str]:
        found = set()
        for name, role in self.roles.roles.items():
            if actor in role.users:
                found.add(name)
                continue
            for group in role.groups:
                if actor in await self.members(group):
                    found.add(name)
                    break
        return found
