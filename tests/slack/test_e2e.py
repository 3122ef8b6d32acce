"""The real app over real HTTP: signed requests in, a local fake of Slack's Web API out."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier

from bot.catalog import load_roles
from bot.config import Settings
from bot.domain.versions import Ref
from bot.slack.runtime import SlackRuntime, slack_runtime
from tests.conftest import EXAMPLES
from tests.service_fixtures import publish_all
from tests.slack.fake_slack import TOKEN, FakeSlack, running_fake

SECRET = "test-signing-secret"
CHANNEL, SRE, IC, OUTSIDER = "C0INCIDENT", "U0SRE0001", "U0IC00001", "U0OUTSIDE"


@dataclass
class Bot:
    runtime: SlackRuntime
    fake: FakeSlack
    url: str
    session: aiohttp.ClientSession

    async def post(
        self, body: str, *, timestamp: int | None = None, signature: str | None = None
    ) -> tuple[int, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = (
            signature or SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body) or ""
        )
        headers = {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        async with self.session.post(self.url, data=body.encode(), headers=headers) as response:
            return response.status, await response.text()

    async def command(self, text: str, user: str = SRE) -> dict[str, Any]:
        body = urlencode(
            {
                "command": "/runbook",
                "text": text,
                "user_id": user,
                "channel_id": CHANNEL,
                "team_id": "T1",
                "trigger_id": "trig",
                "response_url": "http://127.0.0.1:9/r",
                "token": "x",
            }
        )
        status, text_body = await self.post(body)
        assert status == 200, text_body
        await self.settle()
        if text_body.startswith("{"):
            return dict(json.loads(text_body))
        return {"text": text_body}  # bolt answers a text-only ack as plain text, as Slack allows

    async def click(self, action_id: str, value: str, user: str) -> int:
        payload = {
            "type": "block_actions",
            "user": {"id": user},
            "team": {"id": "T1"},
            "channel": {"id": CHANNEL},
            "trigger_id": "trig",
            "api_app_id": "A1",
            "token": "x",
            "actions": [
                {
                    "action_id": action_id,
                    "value": value,
                    "type": "button",
                    "block_id": "b",
                    "action_ts": "1",
                }
            ],
        }
        status, _ = await self.post(urlencode({"payload": json.dumps(payload)}))
        await self.settle()
        return status

    async def submit(self, view: dict[str, Any], values: dict[str, Any], user: str) -> int:
        payload = {
            "type": "view_submission",
            "user": {"id": user},
            "team": {"id": "T1"},
            "api_app_id": "A1",
            "token": "x",
            "view": {
                "id": "V1",
                "type": "modal",
                "callback_id": view["callback_id"],
                "private_metadata": view["private_metadata"],
                "state": {"values": values},
            },
        }
        status, _ = await self.post(urlencode({"payload": json.dumps(payload)}))
        await self.settle()
        return status

    async def settle(self) -> None:
        await self.runtime.listeners.drain()

    def button(self, action_id: str, step: str | None = None) -> str:
        """The value of a button currently shown in Slack (the newest card that has it)."""
        for message in reversed(self.fake.messages):
            for block in message.get("blocks") or []:
                for element in block.get("elements", []) if block.get("type") == "actions" else []:
                    if element["action_id"] == action_id and (
                        step is None or json.loads(element["value"]).get("step") == step
                    ):
                        return str(element["value"])
        raise AssertionError(f"no {action_id} button for {step} is shown")


@pytest.fixture
async def bot(
    tmp_path: Path, runbooks_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Bot]:
    monkeypatch.setenv("RUNBOOK_DEMO_DIR", str(tmp_path / "demo"))
    db = tmp_path / "slack.db"
    await publish_all(db, runbooks_dir)
    async with running_fake() as fake:
        settings = Settings(
            slack_bot_token=SecretStr(TOKEN),
            slack_signing_secret=SecretStr(SECRET),
            slack_api_url=fake.url,
            runbook_db_url=f"sqlite:///{db}",
            runbooks_dir=runbooks_dir,
        )
        async with slack_runtime(settings) as runtime:
            runner = web.AppRunner(runtime.web_app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            async with aiohttp.ClientSession() as session:
                yield Bot(runtime, fake, f"http://127.0.0.1:{port}/slack/events", session)
            await runner.cleanup()


async def test_forged_and_stale_signatures_are_refused(bot: Bot) -> None:
    body = urlencode(
        {
            "command": "/runbook",
            "text": "start restart-service service=api",
            "user_id": SRE,
            "channel_id": CHANNEL,
        }
    )
    assert (await bot.post(body, signature="v0=" + "0" * 64))[0] == 401
    assert (await bot.post(body, timestamp=int(time.time()) - 600))[0] == 401
    assert await bot.runtime.store.runs() == []


async def test_help_and_errors_are_ephemeral_sentences(bot: Bot) -> None:
    assert "Usage:" in (await bot.command(""))["text"]
    unknown = await bot.command("frobnicate")
    assert "`frobnicate` is not a /runbook command." in json.dumps(unknown)
    missing = await bot.command("start nope")
    assert (
        missing["text"]
        == ":warning: No published runbook is named 'nope'; run `runbook-bot publish` first."
    )


async def test_a_guarded_run_through_slack(bot: Bot) -> None:
    started = await bot.command("start restart-service service=api env=production")
    assert started["text"].startswith("Started run `run-")
    run_id = started["text"].split("`")[1]
    [root] = bot.fake.roots()
    assert "restart-service@1" in json.dumps(root["blocks"]) and "<@U0SRE0001>" in json.dumps(
        root["blocks"]
    )

    assert (
        await bot.click("runbook.step.done", bot.button("runbook.step.done", "announce"), SRE)
        == 200
    )
    assert await bot.click("runbook.step.run", bot.button("runbook.step.run", "check"), SRE) == 200
    approve = bot.button("runbook.approval.approve", "restart")
    await bot.click("runbook.approval.approve", approve, SRE)  # the requester: refused, told why
    assert (
        bot.fake.ephemerals[-1]["text"]
        == ":warning: Your approval does not count: not an approver."
    )
    await bot.click("runbook.approval.approve", approve, IC)
    await bot.click("runbook.approval.approve", approve, IC)  # a double click changes nothing
    await bot.click("runbook.step.run", bot.button("runbook.step.run", "restart"), SRE)
    await bot.click("runbook.step.run", bot.button("runbook.step.run", "verify"), SRE)
    await bot.click("runbook.step.skip", bot.button("runbook.step.skip", "all-clear"), SRE)
    reason_view = bot.fake.views[-1]["view"]
    assert reason_view["callback_id"] == "runbook.reason"
    await bot.submit(
        reason_view,
        {"reason": {"reason": {"type": "plain_text_input", "value": "support already told"}}},
        SRE,
    )

    entries = await bot.runtime.store.read(run_id=run_id)
    kinds = [e.kind for e in entries]
    assert kinds.count("approval.granted") == 1 and kinds.count("approval.refused") == 2
    assert kinds[-2:] == ["step.skipped", "run.completed"]
    # Every ledger entry reached the thread once, in ledger order, with its number and short hash.
    thread = bot.fake.thread(root["ts"])
    markers = [m["text"].split(" ", 2)[:2] for m in thread]
    assert markers == [[f"`#{e.seq}`", f"`{e.hash[:8]}`"] for e in entries]
    assert "Ledger checkpoint:" in thread[-1]["text"]
    assert any("Plan for 'restart'" in m["text"] for m in thread)  # computed after the ack
    # Decided cards lost their buttons; the run's root lost its Abort button.
    for message in bot.fake.messages:
        assert all(b.get("type") != "actions" for b in message.get("blocks") or []), message["text"]


async def test_missing_params_open_a_modal_and_bad_values_are_explained(bot: Bot) -> None:
    await bot.command("start restart-service")
    view = bot.fake.views[-1]["view"]
    assert view["callback_id"] == "runbook.params"
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == [
        "param:service",
        "param:env",
    ]
    values: dict[str, dict[str, dict[str, Any]]] = {
        "param:service": {"value": {"type": "plain_text_input", "value": "API!"}},
        "param:env": {"value": {"type": "static_select", "selected_option": {"value": "staging"}}},
    }
    response_status = await bot.submit(view, values, SRE)
    assert response_status == 200 and await bot.runtime.store.runs() == []
    values["param:service"]["value"]["value"] = "api"
    await bot.submit(view, values, SRE)
    [run] = await bot.runtime.store.runs()
    assert run["requester"] == SRE and run["channel"] == CHANNEL


async def test_tampered_and_stale_buttons_change_nothing(bot: Bot) -> None:
    started = await bot.command("start restart-service service=api")
    run_id = started["text"].split("`")[1]
    before = len(await bot.runtime.store.read(run_id=run_id))
    value = json.loads(bot.button("runbook.step.done", "announce"))
    for edited in (
        {**value, "run": "run-deadbeef"},
        {**value, "sha": "f" * 64},
        {**value, "step": "restart"},
        {**value, "v": "x"},
    ):
        await bot.click("runbook.step.done", json.dumps(edited), SRE)
    assert len(await bot.runtime.store.read(run_id=run_id)) == before
    texts = [e["text"] for e in bot.fake.ephemerals]
    assert (
        ":warning: There is no run 'run-deadbeef'; `/runbook status` lists the active ones."
        in texts
    )
    assert (
        ":warning: This card belongs to another version of the runbook; nothing was changed."
        in texts
    )
    assert any("is not the current step" in t for t in texts)
    assert ":warning: That button's data is not valid; reload the message and try again." in texts


async def test_rate_limits_and_server_errors_lose_and_repeat_nothing(bot: Bot) -> None:
    bot.fake.fail_next("chat.postMessage", 429, 500, 429)
    started = await bot.command("start customer-comms-outage product=Checkout")
    run_id = started["text"].split("`")[1]
    await bot.click("runbook.step.done", bot.button("runbook.step.done", "status-page"), SRE)
    entries = await bot.runtime.store.read(run_id=run_id)
    [root] = bot.fake.roots()
    assert [m["text"].split(" ", 1)[0] for m in bot.fake.thread(root["ts"])] == [
        f"`#{e.seq}`" for e in entries
    ]


async def post_event(bot: Bot, event_id: str, user: str) -> int:
    body = json.dumps(
        {
            "token": "x",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1,
            "event": {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"},
        }
    )
    ts = str(int(time.time()))
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
        or "",
        "Content-Type": "application/json",
    }
    async with bot.session.post(bot.url, data=body.encode(), headers=headers) as response:
        return response.status


async def test_app_home_shows_the_catalog_and_runs_once_per_event(bot: Bot) -> None:
    bot.fake.memberships[SRE] = [CHANNEL]
    await bot.command("start customer-comms-outage product=Checkout")
    elsewhere, _ = await bot.runtime.service.start(
        Ref("disk-full-triage"), {"host": "db9"}, requester=IC, channel="C0ELSEWHERE"
    )
    assert await post_event(bot, "Ev1", SRE) == 200
    assert await post_event(bot, "Ev1", SRE) == 200  # Slack's retry of the same delivery
    for _ in range(100):
        if bot.fake.count("views.publish"):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert bot.fake.count("views.publish") == 1
    [(_, args)] = [c for c in bot.fake.calls if c[0] == "views.publish"]
    text = json.dumps(args["view"])
    assert "runbook.start" in text and "Active runs" in text
    active = text.split("Active runs")[1].split("Recent runs")[0]
    assert "customer-comms-outage" in active and elsewhere not in active  # only the user's channels


async def test_metrics_count_requests_and_the_outbox(bot: Bot) -> None:
    await bot.command("start customer-comms-outage product=Checkout")
    async with bot.session.get(bot.url.replace("/slack/events", "/metrics")) as response:
        text = await response.text()
    assert 'runbook_slack_requests_total{kind="command"} 1.0' in text
    assert "runbook_ack_seconds_bucket" in text and "runbook_outbox_backlog 0.0" in text
    assert "runbook_outbox_posted_total 2.0" in text  # run.started and the first step.presented
    async with bot.session.get(bot.url.replace("/slack/events", "/healthz")) as response:
        assert await response.json() == {"ok": True}


EXAMPLE_RUNS = {
    "restart-service": "service=api env=production",
    "disk-full-triage": "host=db1",
    "database-failover": "cluster=orders",
    "customer-comms-outage": "product=Checkout severity=critical",
    "security-incident-intake": "case_id=SEC-7 reporter_contact=jane@example.org involves_personal_data=true",
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_RUNS))
async def test_every_example_runs_to_completion_through_slack(bot: Bot, name: str) -> None:
    """Drive each shipped runbook only through the buttons Slack shows, approving as people
    roles.yml allows (never the requester unless the guard allows it)."""
    roles = await load_roles(EXAMPLES)
    requester = SRE
    started = await bot.command(f"start {name} {EXAMPLE_RUNS[name]}", user=requester)
    run_id = started["text"].split("`")[1]
    for _ in range(40):
        loaded = await bot.runtime.service.load(run_id)
        current = loaded.state.current
        if current is None:
            break
        spec = loaded.runbook.step(current.id)
        if current.status.value == "awaiting approval":
            assert spec.guard is not None
            people = [u for r in spec.guard.approvers for u in roles.roles[r].users]
            eligible = [u for u in people if u != requester or spec.guard.allow_requester]
            approvers = [a.actor for a in current.approvals]
            who = next(u for u in eligible if u not in approvers)
            await bot.click(
                "runbook.approval.approve", bot.button("runbook.approval.approve", current.id), who
            )
        elif spec.kind.value == "hook":
            await bot.click(
                "runbook.step.run", bot.button("runbook.step.run", current.id), requester
            )
        elif spec.kind.value == "decision":
            await bot.click(
                "runbook.step.choose.0", bot.button("runbook.step.choose.0", current.id), requester
            )
        else:
            await bot.click(
                "runbook.step.done", bot.button("runbook.step.done", current.id), requester
            )
    state = (await bot.runtime.service.load(run_id)).state
    assert state.status.value == "completed", [(s.id, s.status.value, s.error) for s in state.steps]
    entries = await bot.runtime.store.read(run_id=run_id)
    root = next(m for m in bot.fake.roots() if run_id in json.dumps(m["blocks"]))
    assert [m["text"].split(" ", 1)[0] for m in bot.fake.thread(root["ts"])] == [
        f"`#{e.seq}`" for e in entries
    ]
    assert "jane@example.org" not in json.dumps(bot.fake.calls)
    assert (await bot.runtime.store.verify()).ok


async def test_verify_answers_the_person_and_the_run_thread(bot: Bot) -> None:
    started = await bot.command("start customer-comms-outage product=Checkout")
    run_id = started["text"].split("`")[1]
    answer = await bot.command(f"verify {run_id}", user=IC)
    assert answer["text"].startswith(":white_check_mark: ledger intact:")
    assert f"Run `{run_id}`: 2 entries in the chain" in answer["text"]
    [root] = bot.fake.roots()
    assert bot.fake.thread(root["ts"])[-1]["text"].startswith(
        "<@U0IC00001> ran `/runbook verify`: :white_check_mark: ledger intact"
    )
