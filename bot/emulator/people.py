"""What people do in Slack, turned into what Slack sends the bot: a slash command, a press on
a button or a select, a modal submitted, the App Home opened, a message written. The Emulator
mixes it in; each action checks what a person could really do (be in the channel, see the
button) and raises EmulatorError when they could not."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from typing import Any

from bot.emulator import payloads
from bot.emulator.workspace import Message, User, View, Workspace

COMMAND = "/runbook"
REQUIRED = "Please complete this required field."


class EmulatorError(Exception):
    """What a person could not have done in Slack (clicking a button that is not shown)."""


@dataclass(frozen=True)
class Answer:
    """The bot's HTTP answer to something the emulator delivered."""

    status: int
    body: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))


class PeopleActions:
    """What it needs of the Emulator it is mixed into is declared here."""

    workspace: Workspace
    _ids: itertools.count[int]

    async def _send(self, kind: str, payload: dict[str, Any]) -> Answer:
        raise NotImplementedError

    def _response_url(self, user: str, channel: str, ts: str | None = None) -> str:
        raise NotImplementedError

    def _respond(self, user: str, channel: str, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def _user(self, user_id: str) -> User:
        user = self.workspace.users.get(user_id)
        if user is None or user.is_bot:
            raise EmulatorError(f"there is no person {user_id!r} in this workspace")
        return user

    async def slash(self, user_id: str, channel_id: str, text: str) -> Answer:
        """`/runbook TEXT` typed by a person in a channel; the ack is shown only to them."""
        user = self._user(user_id)
        channel = self.workspace.channel(channel_id)
        if channel is None or user.id not in channel.members:
            raise EmulatorError(f"{user.name} is not in channel {channel_id!r}")
        payload = payloads.slash_command(
            self.workspace,
            user,
            channel,
            text,
            command=COMMAND,
            trigger_id=self.workspace.issue_trigger(user.id, channel.id),
            response_url=self._response_url(user.id, channel.id),
        )
        answer = await self._send("slash_commands", payload)
        failed = {"text": f'/runbook failed with the error "dispatch_failed" ({answer.status})'}
        self._respond(user.id, channel.id, answer.body if answer.status == 200 else failed)
        return answer

    async def click(
        self,
        user_id: str,
        channel_id: str,
        ts: str,
        action_id: str,
        *,
        block_id: str | None = None,
        option: str | None = None,
        value: str | None = None,
    ) -> Answer:
        """A person presses a button (or picks `option` in a select) shown on a message.
        `value` replaces the button's value, as a tampering client would."""
        payload = self.action_payload(
            user_id, channel_id, ts, action_id, block_id=block_id, option=option, value=value
        )
        return await self._send("interactive", payload)

    def action_payload(
        self,
        user_id: str,
        channel_id: str,
        ts: str,
        action_id: str,
        *,
        block_id: str | None = None,
        option: str | None = None,
        value: str | None = None,
    ) -> dict[str, Any]:
        """The block_actions payload Slack would send for that press (tests replay it)."""
        user = self._user(user_id)
        channel = self.workspace.channel(channel_id)
        message = self.workspace.message(channel_id, ts) or next(
            (m for m in self.workspace.ephemerals if m.ts == ts and m.ephemeral_for == user_id),
            None,
        )
        if channel is None or message is None:
            raise EmulatorError(f"there is no message {ts} in {channel_id}")
        found = find_element(message.blocks, action_id, block_id)
        if found is None:
            raise EmulatorError(f"the message shows no {action_id!r} control")
        element, found_block = found
        if value is not None:
            element = {**element, "value": value}
        return payloads.block_actions(
            self.workspace,
            user,
            element,
            found_block,
            trigger_id=self.workspace.issue_trigger(user.id, channel.id),
            response_url=self._response_url(user.id, channel.id, message.ts),
            message=message,
            channel=channel,
            selected=chosen_option(element, option),
        )

    def _view(self, user_id: str, view_id: str) -> View:
        view = self.workspace.views.get(view_id)
        if view is None or view.user != user_id:
            raise EmulatorError(f"{user_id} has no view {view_id!r} open")
        return view

    async def click_view(
        self,
        user_id: str,
        view_id: str,
        action_id: str,
        *,
        block_id: str | None = None,
        option: str | None = None,
    ) -> Answer:
        """A press on a button in a modal or the App Home."""
        user = self._user(user_id)
        view = self._view(user_id, view_id)
        found = find_element(view.view.get("blocks"), action_id, block_id)
        if found is None:
            raise EmulatorError(f"the view shows no {action_id!r} control")
        element, found_block = found
        payload = payloads.block_actions(
            self.workspace,
            user,
            element,
            found_block,
            trigger_id=self.workspace.issue_trigger(user.id, None),
            response_url="",
            view=view,
            selected=chosen_option(element, option),
        )
        return await self._send("interactive", payload)

    async def submit(self, user_id: str, view_id: str, values: dict[str, Any]) -> Answer:
        """Submit a modal with `values` in Slack's state shape; errors stay on the modal."""
        user = self._user(user_id)
        view = self._view(user_id, view_id)
        missing = required_missing(view.view, values)
        if missing:  # Slack's client refuses these before anything reaches the bot
            view.errors = dict.fromkeys(missing, REQUIRED)
            self.workspace.touch()
            return Answer(200, {"response_action": "errors", "errors": view.errors})
        payload = payloads.view_submission(
            self.workspace,
            user,
            view,
            values,
            trigger_id=self.workspace.issue_trigger(user.id, None),
        )
        answer = await self._send("interactive", payload)
        action = answer.body.get("response_action")
        if answer.status != 200:
            view.errors = {"": "The bot did not answer; try again."}
        elif action == "errors":
            view.errors = dict(answer.body.get("errors", {}))
        elif action == "update":
            view.view, view.errors = dict(answer.body["view"]), {}
        else:
            self.close(user_id, view_id)
        self.workspace.touch()
        return answer

    def say(
        self, user_id: str, channel_id: str, text: str, thread_ts: str | None = None
    ) -> Message:
        """A person writes a plain message (people talk in incident channels too)."""
        user = self._user(user_id)
        channel = self.workspace.channel(channel_id)
        if channel is None or user.id not in channel.members:
            raise EmulatorError(f"{user.name} is not in channel {channel_id!r}")
        if not text:
            raise EmulatorError("Write something first.")
        if thread_ts is not None and self.workspace.message(channel.id, thread_ts) is None:
            raise EmulatorError(f"there is no thread {thread_ts} in {channel_id}")
        return self.workspace.post(channel.id, user.id, text, thread_ts=thread_ts)

    def dismiss(self, user_id: str, ts: str) -> None:
        """Ephemeral messages can be dismissed by the person who sees them."""
        before = len(self.workspace.ephemerals)
        self.workspace.ephemerals = [
            m for m in self.workspace.ephemerals if not (m.ts == ts and m.ephemeral_for == user_id)
        ]
        if len(self.workspace.ephemerals) != before:
            self.workspace.touch()

    def close(self, user_id: str, view_id: str) -> None:
        view = self._view(user_id, view_id)
        if view.kind == "modal":
            del self.workspace.views[view_id]
            self.workspace.touch()

    async def open_home(self, user_id: str) -> Answer:
        """The person opens the app's Home tab: Slack sends app_home_opened."""
        user = self._user(user_id)
        view_id = self.workspace.homes.get(user.id)
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user.id,
            "channel": f"D{user.id[1:]}",
            "tab": "home",
        }
        if view_id in self.workspace.views:
            event["view"] = payloads.view_shape(self.workspace, self.workspace.views[view_id])
        payload = payloads.event_callback(
            self.workspace, event, event_id=f"Ev{next(self._ids):08d}{secrets.token_hex(3)}"
        )
        return await self._send("events_api", payload)


def find_element(
    blocks: list[dict[str, Any]] | None, action_id: str, block_id: str | None = None
) -> tuple[dict[str, Any], str] | None:
    """The control with `action_id` (in `block_id`, when given) and its block's id: a button
    or select in an actions block, or a section's accessory. None when nothing shows it."""
    for block in blocks or []:
        if block_id is not None and block.get("block_id") != block_id:
            continue
        elements = list(block.get("elements", [])) if block.get("type") == "actions" else []
        if "accessory" in block:
            elements.append(block["accessory"])
        for element in elements:
            if element.get("action_id") == action_id:
                return element, str(block.get("block_id", ""))
    return None


def chosen_option(element: dict[str, Any], option: str | None) -> dict[str, Any] | None:
    """The select's option whose value is `option`, as Slack reports it in the payload."""
    if option is None:
        return None
    for candidate in element.get("options", []):
        if candidate.get("value") == option:
            return dict(candidate)
    raise EmulatorError(f"the select offers no option {option!r}")


def required_missing(view: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """Input blocks that are not optional and were left empty."""
    missing = []
    for block in view.get("blocks", []):
        if block.get("type") != "input" or block.get("optional"):
            continue
        element = block.get("element", {})
        state = values.get(block.get("block_id", ""), {}).get(element.get("action_id", ""), {})
        if not (state.get("value") or state.get("selected_option")):
            missing.append(str(block.get("block_id", "")))
    return missing
