"""Hostile and broken requests against the real app over HTTP: each gets the right refusal
and changes nothing; unauthorised approvals are refused and recorded; secrets stay secret."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.emulator import payloads
from bot.emulator.server import FORM, interactive_body
from tests.slack.harness import CHANNEL, IC, OUTSIDER, SRE, Bot, running_bot
from tests.slack.test_e2e import run_id_of

SECRET_TOKEN = "s3cr3t-hunter2-value"
TOKEN_LOOKING = "xoxb-123456789012-abcdefABCDEF"
LEAKY = f"""
name: leaky-hook
title: Echo a secret
summary: A hook whose output carries the secret param and a Slack token.
owner: "@sre"
params:
  token:
    type: string
    secret: true
    required: true
steps:
  - id: echo
    title: Echo it
    hook: command.run
    with:
      argv: ["printf", "token=%s and %s%s", "{{{{ token }}}}", "xoxb-", "{TOKEN_LOOKING[5:]}"]
"""


@pytest.fixture
async def bot(
    tmp_path: Path, runbooks_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Bot]:
    monkeypatch.setenv("RUNBOOK_DEMO_DIR", str(tmp_path / "demo"))
    (runbooks_dir / "leaky-hook.yml").write_text(LEAKY, encoding="utf-8")
    async with running_bot(tmp_path, runbooks_dir) as running:
        yield running


async def ledger_size(bot: Bot) -> int:
    return (await bot.runtime.store.head())[0]


async def signed(bot: Bot, body: str, content_type: str = FORM) -> int:
    answer = await bot.emulator.post_signed(body, bot.emulator.signed_headers(body, content_type))
    await bot.settle()
    return answer.status


async def test_oversized_and_malformed_bodies_are_refused(bot: Bot) -> None:
    before = await ledger_size(bot)
    huge = urlencode({"command": "/runbook", "text": "x" * (2 * 1024 * 1024)})
    assert await signed(bot, huge) == 413
    assert await signed(bot, "payload=%7Bnot-json") == 400
    assert await signed(bot, "%%%&&&==") in (400, 404)  # no command, no payload: bolt's 404
    assert await signed(bot, "{not json", "application/json") == 400
    unsigned = await bot.emulator.post_signed("command=/runbook&text=status", {})
    assert unsigned.status == 401
    assert await ledger_size(bot) == before


async def test_a_replayed_click_changes_nothing_more(bot: Bot) -> None:
    run_id = run_id_of((await bot.command("start restart-service service=api")).text)
    message = bot.shown("runbook.step.done", "announce")
    click = bot.emulator.action_payload(SRE, CHANNEL, message.ts, "runbook.step.done")
    body = interactive_body(click)
    headers = bot.emulator.signed_headers(body, FORM)
    for _ in range(3):  # the same signed bytes, replayed within the five-minute window
        assert (await bot.emulator.post_signed(body, headers)).status == 200
        await bot.settle()
    kinds = [e.kind for e in await bot.runtime.store.read(run_id=run_id)]
    assert kinds.count("step.done") == 1


async def test_unknown_action_ids_change_nothing(bot: Bot) -> None:
    await bot.command("start restart-service service=api")
    before = await ledger_size(bot)
    value = json.dumps(bot.value("runbook.step.done", "announce"))
    for action_id in ("runbook.step.explode", "evil.action"):
        element = {"type": "button", "action_id": action_id, "value": value}
        click = payloads.block_actions(
            bot.workspace,
            bot.workspace.users[SRE],
            element,
            "b",
            trigger_id="t",
            response_url="",
            message=bot.shown("runbook.step.done", "announce"),
            channel=bot.workspace.channels[CHANNEL],
        )
        assert await signed(bot, interactive_body(click)) in (200, 404)
    assert await ledger_size(bot) == before
    assert any("is not one this bot knows" in t for t in bot.ephemeral_texts())


async def test_unauthorised_approvals_are_refused_and_recorded(bot: Bot) -> None:
    run_id = run_id_of((await bot.command("start restart-service service=api")).text)
    await bot.click("runbook.step.done", "announce", SRE)
    await bot.click("runbook.step.run", "check", SRE)
    approve = bot.value("runbook.approval.approve", "restart")
    await bot.click("runbook.approval.approve", "restart", OUTSIDER)
    await bot.click("runbook.approval.approve", "restart", SRE)  # the requester
    stale = json.dumps({**approve, "sha": "f" * 64})  # bound to another version
    await bot.click("runbook.approval.approve", "restart", IC, value=stale)
    edited = json.dumps({**approve, "args": "0" * 64})  # other arguments than were shown
    await bot.click("runbook.approval.approve", "restart", IC, value=edited)
    refused = [
        e.data["why"]
        for e in await bot.runtime.store.read(run_id=run_id)
        if e.kind == "approval.refused"
    ]
    assert len(refused) == 4
    assert refused[0] == refused[1] == "not an approver"
    assert refused[2] == refused[3] and "changed since it was shown" in refused[2]
    assert "approval.granted" not in [e.kind for e in await bot.runtime.store.read(run_id=run_id)]
    # The same person twice toward a quorum of two counts once.
    failover = run_id_of((await bot.command("start database-failover cluster=orders")).text)
    await bot.click("runbook.step.done", "freeze-writes", SRE)
    await bot.click("runbook.step.run", "check-lag", SRE)
    await bot.click("runbook.approval.approve", "promote", "U0DBA0001")
    await bot.click("runbook.approval.approve", "promote", "U0DBA0001")
    entries = await bot.runtime.store.read(run_id=failover)
    assert [e.kind for e in entries].count("approval.granted") == 1
    assert entries[-1].kind == "approval.refused" and "already" in entries[-1].data["why"]


async def test_secrets_never_reach_slack_the_ledger_or_the_logs(
    bot: Bot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    run_id = run_id_of((await bot.command(f"start leaky-hook token={SECRET_TOKEN}")).text)
    await bot.click("runbook.step.run", "echo", SRE)
    entries = await bot.runtime.store.read(run_id=run_id)
    assert [e.kind for e in entries][-2:] == ["hook.succeeded", "run.completed"]
    slack = json.dumps(bot.emulator.calls) + json.dumps(
        [m.text for m in bot.workspace.messages + bot.workspace.ephemerals]
    )
    ledger = (tmp_path / "slack.db").read_bytes()
    for leaked in (SECRET_TOKEN, TOKEN_LOOKING):
        assert leaked not in slack
        assert leaked.encode() not in ledger
        assert leaked not in caplog.text
    assert "token=" in json.dumps(entries[-2].data)  # the output is there, masked
