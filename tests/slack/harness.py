"""The bot's real Slack runtime wired to the emulator (`bot.emulator`), one per test, each on
an ephemeral port: signed requests in, Slack's Web API out."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.catalog import load_roles
from bot.config import Settings
from bot.domain.runbook import RolesFile
from bot.emulator.people import Answer, find_element
from bot.emulator.server import Emulator, running_emulator
from bot.emulator.site import start_site
from bot.emulator.workspace import Channel, Message, User, View, Workspace
from bot.slack.runtime import SlackRuntime, slack_runtime
from tests.service_fixtures import publish_all

CHANNEL, SRE, IC, OUTSIDER = "C0INCIDENT", "U0SRE0001", "U0IC00001", "U0OUTSIDE"
ELSEWHERE = "C0ELSEWHERE"  # a channel the SRE is not in


async def workspace_for(runbooks_dir: Path) -> Workspace:
    """The demo workspace, plus everyone roles.yml names, in the incident channel."""
    workspace = Workspace.demo()
    roles = await load_roles(runbooks_dir)
    for role in roles.roles.values():
        for user in role.users:
            if user not in workspace.users:
                workspace.users[user] = User(user, f"Person {user}")
                workspace.channels[CHANNEL].members.append(user)
    workspace.channels[ELSEWHERE] = Channel(ELSEWHERE, "elsewhere", [IC, "UBOT00001"])
    return workspace


def find_card(
    workspace: Workspace, action_id: str, step: str | None = None, run_id: str | None = None
) -> Message | None:
    """The newest message showing `action_id` whose button is for `step` of `run_id`."""
    for message in reversed(workspace.messages):
        found = find_element(message.blocks, action_id)
        if found is None:
            continue
        value = json.loads(found[0].get("value") or "{}")
        if (step is None or value.get("step") == step) and (
            run_id is None or value.get("run") == run_id
        ):
            return message
    return None


@dataclass
class Bot:
    runtime: SlackRuntime
    emulator: Emulator

    @property
    def workspace(self) -> Workspace:
        return self.emulator.workspace

    async def settle(self) -> None:
        await self.runtime.listeners.drain()

    async def command(self, text: str, user: str = SRE, channel: str = CHANNEL) -> Answer:
        answer = await self.emulator.slash(user, channel, text)
        assert answer.status == 200, answer
        await self.settle()
        return answer

    def shown(self, action_id: str, step: str | None = None, run_id: str | None = None) -> Message:
        """The newest message that shows `action_id` (for `step` of `run_id`)."""
        message = find_card(self.workspace, action_id, step, run_id)
        if message is None:
            raise AssertionError(f"no {action_id} button for {step} is shown")
        return message

    def value(self, action_id: str, step: str | None = None) -> dict[str, Any]:
        found = find_element(self.shown(action_id, step).blocks, action_id)
        assert found is not None
        return dict(json.loads(found[0]["value"]))

    async def click(
        self,
        action_id: str,
        step: str | None,
        user: str,
        *,
        value: str | None = None,
        settle: bool = True,
        run_id: str | None = None,
    ) -> Answer:
        """Press the button; with settle=False, wait only until it is shown, not for
        everything the bot is doing (for many runs at once)."""
        if not settle:
            deadline = asyncio.get_running_loop().time() + 60
            while asyncio.get_running_loop().time() < deadline:
                with contextlib.suppress(AssertionError):
                    self.shown(action_id, step, run_id)
                    break
                changed = self.workspace.changed()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await changed.wait()
                await asyncio.sleep(0.05)  # let a burst of changes land before looking again
        message = self.shown(action_id, step, run_id)
        answer = await self.emulator.click(
            user, message.channel, message.ts, action_id, value=value
        )
        if settle:
            await self.settle()
        return answer

    def modal(self) -> View:
        return [v for v in self.workspace.views.values() if v.kind == "modal"][-1]

    async def submit(self, values: dict[str, Any], user: str = SRE) -> Answer:
        answer = await self.emulator.submit(user, self.modal().id, values)
        await self.settle()
        return answer

    def ephemeral_texts(self, user: str = SRE) -> list[str]:
        return [m.text for m in self.workspace.ephemerals if m.ephemeral_for == user]


@asynccontextmanager
async def running_bot(
    tmp_path: Path, runbooks_dir: Path, *, app_token: str | None = None, publish: bool = True
) -> AsyncIterator[Bot]:
    db = tmp_path / "slack.db"
    if publish:
        await publish_all(db, runbooks_dir)
    workspace = await workspace_for(runbooks_dir)
    async with running_emulator(workspace, app_token=app_token) as emulator:
        settings = Settings(
            slack_bot_token=SecretStr(emulator.token),
            slack_signing_secret=SecretStr(emulator.signing_secret),
            slack_app_token=SecretStr(app_token) if app_token else None,
            slack_api_url=emulator.api_url,
            runbook_db_url=f"sqlite:///{db}",
            runbooks_dir=runbooks_dir,
        )
        async with slack_runtime(settings) as runtime:
            runner, url = await start_site(runtime.web_app)
            emulator.bot_url = f"{url}/slack/events"
            try:
                yield Bot(runtime, emulator)
            finally:
                await runner.cleanup()


async def drive_to_completion(
    bot: Bot, run_id: str, requester: str, roles: RolesFile, *, settle: bool = True
) -> str:
    """Click only the buttons Slack shows until the run ends, approving as people roles.yml
    allows (never the requester unless the guard allows it); the run's final status."""
    for _ in range(3000):
        loaded = await bot.runtime.service.load(run_id)
        current = loaded.state.current
        if current is None:
            break
        spec = loaded.runbook.step(current.id)
        if current.status.value == "running":  # a hook under way: wait for its outcome
            await asyncio.sleep(0.05)
            continue
        if current.status.value == "awaiting approval":
            assert spec.guard is not None
            people = [u for r in spec.guard.approvers for u in roles.roles[r].users]
            eligible = [u for u in people if u != requester or spec.guard.allow_requester]
            approvers = [a.actor for a in current.approvals]
            who = next(u for u in eligible if u not in approvers)
            await bot.click(
                "runbook.approval.approve", current.id, who, settle=settle, run_id=run_id
            )
        elif spec.kind.value == "hook":
            await bot.click("runbook.step.run", current.id, requester, settle=settle, run_id=run_id)
        elif spec.kind.value == "decision":
            await bot.click(
                "runbook.step.choose.0", current.id, requester, settle=settle, run_id=run_id
            )
        else:
            await bot.click(
                "runbook.step.done", current.id, requester, settle=settle, run_id=run_id
            )
    return (await bot.runtime.service.load(run_id)).state.status.value


async def thread_matches_ledger(bot: Bot, run_id: str) -> tuple[list[str], list[str]]:
    """The `#seq` markers in the run's thread, and those the ledger says should be there."""
    entries = await bot.runtime.store.read(run_id=run_id)
    root = next(m for m in bot.workspace.roots() if run_id in json.dumps(m.blocks))
    shown = [m.text.split(" ", 1)[0] for m in bot.workspace.thread(root.ts)]
    return shown, [f"`#{e.seq}`" for e in entries]
