"""The emulated workspace's state: people, channels, messages, ephemerals and views.

Plain data with small, synchronous mutations; the HTTP sides (Web API, console) share one
instance. Every mutation bumps `version` and wakes whoever waits for a change."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BOT_USER = "UBOT00001"
TRIGGER_SECONDS = 3.0  # a trigger_id opens a view for three seconds, as in Slack


@dataclass
class User:
    id: str
    name: str
    title: str = ""
    is_bot: bool = False


@dataclass
class Channel:
    id: str
    name: str
    members: list[str] = field(default_factory=list)
    dm_for: str | None = None  # the app's direct-message channel with this user


@dataclass
class Message:
    ts: str
    channel: str
    user: str
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    edited: bool = False
    ephemeral_for: str | None = None  # shown only to this user, never stored by Slack


@dataclass
class View:
    id: str
    user: str
    view: dict[str, Any]
    kind: str = "modal"  # modal | home
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class Trigger:
    user: str
    channel: str | None
    issued: float


def demo_users() -> list[User]:
    """The people the console offers, with the ids `runbooks/roles.yml` names."""
    return [
        User("U0SRE0001", "Sam Rivera", "SRE on call (responder)"),
        User("U0IC00001", "Ivy Chen", "Incident commander"),
        User("U0SUP0001", "Sue Park", "Support lead"),
        User("U0DBA0001", "Dan Okafor", "Database administrator"),
        User("U0LEG0001", "Lena Vogt", "Legal counsel"),
        User("U0OUTSIDE", "Oscar Ruiz", "Outsider (in no role)"),
    ]


@dataclass
class Workspace:
    team_id: str = "T0EMULATOR"
    team: str = "Emulated workspace"
    users: dict[str, User] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    ephemerals: list[Message] = field(default_factory=list)
    views: dict[str, View] = field(default_factory=dict)
    homes: dict[str, str] = field(default_factory=dict)  # user -> view id of their App Home
    triggers: dict[str, Trigger] = field(default_factory=dict)
    version: int = 0
    _clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _by_ts: dict[tuple[str, str], Message] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.users.setdefault(BOT_USER, User(BOT_USER, "runbook-bot", "App", is_bot=True))

    @classmethod
    def demo(cls) -> Workspace:
        """An incident channel made up front, the people of `demo_users`, and their groups."""
        workspace = cls()
        people = demo_users()
        for user in people:
            workspace.users[user.id] = user
        everyone = [u.id for u in people] + [BOT_USER]
        workspace.channels["C0INCIDENT"] = Channel("C0INCIDENT", "incident-2211", list(everyone))
        workspace.channels["C0GENERAL"] = Channel("C0GENERAL", "general", list(everyone))
        workspace.groups = {"S0ICROTA01": ["U0IC00001"], "S0SREONCAL": ["U0SRE0001"]}
        return workspace

    # ---- changes --------------------------------------------------------------------------

    def touch(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def changed(self) -> asyncio.Event:
        """An event set at the next change; wait on it with `asyncio.timeout`."""
        return self._changed

    def post(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        thread_ts: str | None = None,
        ephemeral_for: str | None = None,
    ) -> Message:
        """A new message (or an ephemeral one, kept apart), stamped with the next ts."""
        message = Message(
            self.next_ts(), channel, user, text, blocks, thread_ts, False, ephemeral_for
        )
        if ephemeral_for:
            self.ephemerals.append(message)
        else:
            self.messages.append(message)
            self._by_ts[channel, message.ts] = message
        self.touch()
        return message

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._clock):06d}"

    # ---- lookups --------------------------------------------------------------------------

    def channel(self, channel_id: str) -> Channel | None:
        """A channel by id; a user id names the app's direct messages with that user."""
        if channel_id in self.channels:
            return self.channels[channel_id]
        if channel_id in self.users and not self.users[channel_id].is_bot:
            dm = Channel(channel_id, "runbook-bot", [channel_id, BOT_USER], dm_for=channel_id)
            self.channels[channel_id] = dm
            return dm
        return None

    def message(self, channel: str, ts: str) -> Message | None:
        if len(self._by_ts) != len(self.messages):  # appended or replaced from outside
            self._by_ts = {(m.channel, m.ts): m for m in self.messages}
        return self._by_ts.get((channel, ts))

    def remove(self, message: Message) -> None:
        self.messages.remove(message)
        self._by_ts.pop((message.channel, message.ts), None)
        self.touch()

    def roots(self, channel: str | None = None) -> list[Message]:
        return [
            m
            for m in self.messages
            if m.thread_ts is None and (channel is None or m.channel == channel)
        ]

    def thread(self, root_ts: str) -> list[Message]:
        return [m for m in self.messages if m.thread_ts == root_ts]

    def memberships(self, user: str) -> list[Channel]:
        return [c for c in self.channels.values() if user in c.members]

    # ---- triggers --------------------------------------------------------------------------

    def issue_trigger(self, user: str, channel: str | None) -> str:
        now = time.monotonic()
        self.triggers = {  # expired ones can never be redeemed: forget them
            k: t for k, t in self.triggers.items() if now - t.issued <= TRIGGER_SECONDS
        }
        trigger = f"{next(self._clock)}.{secrets.token_hex(6)}"
        self.triggers[trigger] = Trigger(user, channel, time.monotonic())
        return trigger

    def redeem_trigger(self, trigger_id: str) -> Trigger | str:
        """The trigger's owner, or Slack's error code for an unknown or expired one."""
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            return "invalid_trigger_id"
        if time.monotonic() - trigger.issued > TRIGGER_SECONDS:
            return "expired_trigger_id"
        return trigger

    # ---- persistence ----------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(
            {
                "team_id": self.team_id,
                "team": self.team,
                "users": [asdict(u) for u in self.users.values()],
                "channels": [asdict(c) for c in self.channels.values()],
                "groups": self.groups,
                "messages": [asdict(m) for m in self.messages],
                "views": [asdict(v) for v in self.views.values() if v.kind == "home"],
                "homes": self.homes,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Workspace:
        data = json.loads(text)
        workspace = cls(team_id=data["team_id"], team=data["team"])
        workspace.users = {u["id"]: User(**u) for u in data["users"]}
        workspace.channels = {c["id"]: Channel(**c) for c in data["channels"]}
        workspace.groups = data["groups"]
        workspace.messages = [Message(**m) for m in data["messages"]]
        workspace.views = {v["id"]: View(**v) for v in data["views"]}
        workspace.homes = data["homes"]
        counters = [int(m.ts.split(".")[1]) for m in workspace.messages]
        workspace._clock = itertools.count(max(counters, default=0) + 1)
        return workspace

    def save(self, path: Path) -> None:
        write_whole(path, self.to_json())


def write_whole(path: Path, text: str) -> None:
    """Written to a temporary file and renamed, so a crash leaves the old file or the new."""
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
