"""The real app over real HTTP: the emulator sends signed requests as Slack does and plays
Slack's Web API for everything the bot calls."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.catalog import load_roles
from bot.domain.versions import Ref
from bot.emulator.faults import FaultKind
from tests.conftest import EXAMPLES
from tests.slack.harness import (
    CHANNEL,
    ELSEWHERE,
    IC,
    SRE,
    Bot,
    drive_to_completion,
    running_bot,
    thread_matches_ledger,
)


def run_id_of(text: str) -> str:
    assert text.startswith("Started run `run-"), text
    return text.split("`")[1]


async def test_forged_and_stale_signatures_are_refused(bot: Bot) -> None:
    body = urlencode(
        {
            "command": "/runbook",
            "text": "start restart-service service=api",
            "user_id": SRE,
            "channel_id": CHANNEL,
        }
    )
    content = "application/x-www-form-urlencoded"
    forged = {**bot.emulator.signed_headers(body, content), "X-Slack-Signature": "v0=" + "0" * 64}
    assert (await bot.emulator.post_signed(body, forged)).status == 401
    stale = bot.emulator.signed_headers(body, content)
    stale["X-Slack-Request-Timestamp"] = str(int(time.time()) - 600)
    assert (await bot.emulator.post_signed(body, stale)).status == 401
    assert (
        await bot.emulator.post_signed(body, bot.emulator.signed_headers(body, content))
    ).status == 200
    await bot.settle()
    assert len(await bot.runtime.store.runs()) == 1  # only the correctly signed request counted


async def test_help_and_errors_are_ephemeral_sentences(bot: Bot) -> None:
    assert "Usage:" in (await bot.command("")).text
    unknown = await bot.command("frobnicate")
    assert "`frobnicate` is not a /runbook command." in json.dumps(unknown.body)
    missing = await bot.command("start nope")
    assert (
        missing.text
        == ":warning: No published runbook is named 'nope'; run `runbook-bot publish` first."
    )
    assert bot.ephemeral_texts()[-1] == missing.text  # shown only to the person who typed it
    assert bot.workspace.messages == []


async def test_a_guarded_run_through_slack(bot: Bot) -> None:
    run_id = run_id_of((await bot.command("start restart-service service=api env=production")).text)
    [root] = bot.workspace.roots()
    assert "restart-service@1" in json.dumps(root.blocks) and "<@U0SRE0001>" in json.dumps(
        root.blocks
    )

    assert (await bot.click("runbook.step.done", "announce", SRE)).status == 200
    assert (await bot.click("runbook.step.run", "check", SRE)).status == 200
    await bot.click("runbook.approval.approve", "restart", SRE)  # the requester: refused, told why
    assert bot.ephemeral_texts()[-1] == ":warning: Your approval does not count: not an approver."
    approve = bot.shown("runbook.approval.approve", "restart")
    double_click = [
        bot.emulator.click(IC, approve.channel, approve.ts, "runbook.approval.approve")
        for _ in range(2)
    ]
    assert [a.status for a in await asyncio.gather(*double_click)] == [200, 200]
    await bot.settle()
    await bot.click("runbook.step.run", "restart", SRE)
    await bot.click("runbook.step.run", "verify", SRE)
    await bot.click("runbook.step.skip", "all-clear", SRE)
    assert bot.modal().view["callback_id"] == "runbook.reason"
    await bot.submit(
        {"reason": {"reason": {"type": "plain_text_input", "value": "support already told"}}}
    )
    assert [v for v in bot.workspace.views.values() if v.kind == "modal"] == []  # closed

    entries = await bot.runtime.store.read(run_id=run_id)
    kinds = [e.kind for e in entries]
    assert kinds.count("approval.granted") == 1 and kinds.count("approval.refused") == 2
    assert kinds[-2:] == ["step.skipped", "run.completed"]
    # Every ledger entry reached the thread once, in ledger order, with its number and short hash.
    thread = bot.workspace.thread(root.ts)
    markers = [m.text.split(" ", 2)[:2] for m in thread]
    assert markers == [[f"`#{e.seq}`", f"`{e.hash[:8]}`"] for e in entries]
    assert "Ledger checkpoint:" in thread[-1].text
    assert any("Plan for 'restart'" in m.text for m in thread)  # computed after the ack
    # Decided cards lost their buttons; the run's root lost its Abort button.
    for message in bot.workspace.messages:
        assert all(b.get("type") != "actions" for b in message.blocks or []), message.text


async def test_missing_params_open_a_modal_and_bad_values_are_explained(bot: Bot) -> None:
    await bot.command("start restart-service")
    view = bot.modal().view
    assert view["callback_id"] == "runbook.params"
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == [
        "param:service",
        "param:env",
    ]
    empty = await bot.submit({})  # Slack's client stops an empty required field itself
    assert empty.body["errors"] == {"param:service": "Please complete this required field."}
    values: dict[str, dict[str, dict[str, Any]]] = {
        "param:service": {"value": {"type": "plain_text_input", "value": "API!"}},
        "param:env": {"value": {"type": "static_select", "selected_option": {"value": "staging"}}},
    }
    answer = await bot.submit(values)
    assert answer.status == 200 and answer.body["response_action"] == "errors"
    assert "param:service" in bot.modal().errors  # the modal stays open, the error beside the field
    assert await bot.runtime.store.runs() == []
    values["param:service"]["value"]["value"] = "api"
    await bot.submit(values)
    [run] = await bot.runtime.store.runs()
    assert run["requester"] == SRE and run["channel"] == CHANNEL


async def test_tampered_and_stale_buttons_change_nothing(bot: Bot) -> None:
    run_id = run_id_of((await bot.command("start restart-service service=api")).text)
    before = len(await bot.runtime.store.read(run_id=run_id))
    value = bot.value("runbook.step.done", "announce")
    for edited in (
        {**value, "run": "run-deadbeef"},
        {**value, "sha": "f" * 64},
        {**value, "step": "restart"},
        {**value, "v": "x"},
    ):
        await bot.click("runbook.step.done", "announce", SRE, value=json.dumps(edited))
    assert len(await bot.runtime.store.read(run_id=run_id)) == before
    texts = bot.ephemeral_texts()
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
    bot.emulator.fail_next("chat.postMessage", FaultKind.RATE_LIMITED)
    bot.emulator.fail_next("chat.postMessage", FaultKind.SERVER_ERROR)
    bot.emulator.fail_next("chat.postMessage", FaultKind.RATE_LIMITED)
    run_id = run_id_of((await bot.command("start customer-comms-outage product=Checkout")).text)
    await bot.click("runbook.step.done", "status-page", SRE)
    entries = await bot.runtime.store.read(run_id=run_id)
    [root] = bot.workspace.roots()
    assert [m.text.split(" ", 1)[0] for m in bot.workspace.thread(root.ts)] == [
        f"`#{e.seq}`" for e in entries
    ]
    assert [kind for _, kind in bot.emulator.faults.injected] == [
        FaultKind.RATE_LIMITED,
        FaultKind.SERVER_ERROR,
        FaultKind.RATE_LIMITED,
    ]


async def test_app_home_shows_the_catalog_and_runs_once_per_event(bot: Bot) -> None:
    await bot.command("start customer-comms-outage product=Checkout")
    elsewhere, _ = await bot.runtime.service.start(
        Ref("disk-full-triage"), {"host": "db9"}, requester=IC, channel=ELSEWHERE
    )
    assert (await bot.emulator.open_home(SRE)).status == 200
    for _ in range(100):
        if bot.emulator.count("views.publish"):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert bot.emulator.count("views.publish") == 1
    home = bot.workspace.views[bot.workspace.homes[SRE]].view
    text = json.dumps(home)
    assert "runbook.start" in text and "Active runs" in text
    catalog = text.split("Active runs")[0]
    assert "*Restart a stuck service*" in catalog and "*Triage a full disk*" in catalog  # titles
    active = text.split("Active runs")[1].split("Recent runs")[0]
    assert "customer-comms-outage" in active and elsewhere not in active  # only the user's channels


async def test_app_home_is_answered_before_slack_is_asked_to_draw_it(bot: Bot) -> None:
    # A slow views.publish would hold the event's answer past Slack's 3 seconds (and bring a
    # retry) if it were drawn before answering.
    bot.emulator.fail_next("views.publish", "slow", delay=1.0)
    assert (await bot.emulator.open_home(SRE)).status == 200
    assert SRE not in bot.workspace.homes
    await bot.settle()
    assert SRE in bot.workspace.homes


async def test_a_failure_after_the_ack_is_logged_with_an_id(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot.emulator.fail_next("views.publish", "error", error="invalid_blocks")
    assert (await bot.emulator.open_home(SRE)).status == 200
    await bot.settle()
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
    assert logged, caplog.text
    assert "after an ack" in logged[0].getMessage() and "invalid_blocks" in caplog.text


async def test_a_repeated_event_delivery_is_handled_once(bot: Bot) -> None:
    from bot.emulator import payloads

    event = {"type": "app_home_opened", "user": SRE, "channel": "D1", "tab": "home"}
    body = json.dumps(payloads.event_callback(bot.workspace, event, event_id="Ev1"))
    headers = bot.emulator.signed_headers(body, "application/json")
    assert (await bot.emulator.post_signed(body, headers)).status == 200
    headers = {**bot.emulator.signed_headers(body, "application/json"), "X-Slack-Retry-Num": "1"}
    assert (await bot.emulator.post_signed(body, headers)).status == 200  # Slack's retry
    await bot.settle()
    await asyncio.sleep(0.3)
    assert bot.emulator.count("views.publish") == 1


async def test_starting_from_app_home_opens_the_params_modal(bot: Bot) -> None:
    await bot.emulator.open_home(SRE)
    for _ in range(100):
        if SRE in bot.workspace.homes:
            break
        await asyncio.sleep(0.02)
    home = bot.workspace.homes[SRE]
    answer = await bot.emulator.click_view(SRE, home, "runbook.start", block_id=None)
    assert answer.status == 200
    await bot.settle()
    assert bot.modal().view["callback_id"] == "runbook.params"


async def test_metrics_count_requests_and_the_outbox(bot: Bot) -> None:
    await bot.command("start customer-comms-outage product=Checkout")
    base = bot.emulator.bot_url.replace("/slack/events", "")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/metrics") as response:
            text = await response.text()
        async with session.get(f"{base}/healthz") as response:
            assert await response.json() == {"ok": True}
    assert 'runbook_slack_requests_total{kind="command"} 1.0' in text
    assert "runbook_ack_seconds_bucket" in text and "runbook_outbox_backlog 0.0" in text
    assert "runbook_outbox_deliveries 0.0" in text
    assert "runbook_outbox_posted_total 2.0" in text  # run.started and the first step.presented


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
    started = await bot.command(f"start {name} {EXAMPLE_RUNS[name]}", user=SRE)
    run_id = run_id_of(started.text)
    assert await drive_to_completion(bot, run_id, SRE, roles) == "completed"
    shown, expected = await thread_matches_ledger(bot, run_id)
    assert shown == expected
    assert "jane@example.org" not in json.dumps(bot.emulator.calls)
    assert (await bot.runtime.store.verify()).ok


async def test_verify_answers_the_person_and_the_run_thread(bot: Bot) -> None:
    """Re-hashing a large ledger can take longer than Slack waits for an ack: the ack comes
    first, and the verdict follows through the command's response_url."""
    run_id = run_id_of((await bot.command("start customer-comms-outage product=Checkout")).text)
    ack = await bot.command(f"verify {run_id}", user=IC)
    assert ack.text == ":hourglass_flowing_sand: Verifying the ledger; the answer follows."
    answer = bot.ephemeral_texts(IC)[-1]  # only the person who asked sees it
    assert answer.startswith(":white_check_mark: ledger intact:")
    assert f"Run `{run_id}`: 2 entries in the chain" in answer
    assert bot.emulator.count("chat.postEphemeral") == 0  # it went by the response_url
    [root] = bot.workspace.roots()
    assert bot.workspace.thread(root.ts)[-1].text.startswith(
        "<@U0IC00001> ran `/runbook verify`: :white_check_mark: ledger intact"
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/closed", ""], ids=["unreachable", "none"])
async def test_a_late_answer_without_a_working_response_url_is_posted_ephemerally(
    bot: Bot, url: str
) -> None:
    await bot.runtime.listeners._answer(IC, CHANNEL, url, "the verdict")
    assert bot.ephemeral_texts(IC)[-1] == "the verdict"
    assert bot.emulator.count("chat.postEphemeral") == 1


async def test_a_card_redraw_refused_by_slack_is_tried_again(bot: Bot) -> None:
    run_id = run_id_of((await bot.command("start restart-service service=api")).text)
    bot.emulator.fail_next("chat.update", FaultKind.ERROR, error="internal_error")
    await bot.click("runbook.step.done", "announce", SRE)  # its redraw is refused once
    assert bot.shown("runbook.step.run", "check", run_id)  # the next card has its button
    announce = next(m for m in bot.workspace.messages if "'announce'" in m.text and m.thread_ts)
    assert all(b.get("type") != "actions" for b in announce.blocks or [])  # and the old lost it


async def test_a_restart_finishes_ended_runs_and_posts_unthreaded_ones(bot: Bot) -> None:
    ended = run_id_of((await bot.command("start customer-comms-outage product=Checkout")).text)
    await bot.runtime.service.abort(ended, actor=SRE, reason="drill over")  # not posted yet
    fresh, _ = await bot.runtime.service.start(  # a crash before its root message was posted
        Ref("disk-full-triage"), {"host": "db2"}, requester=SRE, channel=CHANNEL
    )
    await bot.runtime.outbox.resume_all()
    await bot.settle()
    for run_id in (ended, fresh):
        shown, expected = await thread_matches_ledger(bot, run_id)
        assert shown == expected


async def test_a_root_posted_just_before_a_crash_is_found_not_posted_again(bot: Bot) -> None:
    service, delivery = bot.runtime.service, bot.runtime.outbox.delivery
    reached, _ = await service.start(
        Ref("disk-full-triage"), {"host": "db1"}, requester=SRE, channel=CHANNEL
    )
    lost, _ = await service.start(
        Ref("disk-full-triage"), {"host": "db2"}, requester=SRE, channel=CHANNEL
    )
    # Both crashed between recording the root as begun and learning its ts; only the first
    # root reached Slack, and the channel moved on after it.
    for run_id in (reached, lost):
        assert await delivery.begin_thread(run_id, CHANNEL)  # begun now, by this "process"
        assert not await delivery.begin_thread(run_id, CHANNEL)  # the next one finds it begun
        assert await delivery.thread(run_id) is None  # no thread to post into until confirmed
    bot.workspace.post(CHANNEL, SRE, f"Run {reached}: Disk full triage", [])
    for i in range(3):
        bot.workspace.post(CHANNEL, SRE, f"chatter {i}", [])
    await bot.runtime.outbox.resume_all()
    await bot.settle()
    for run_id in (reached, lost):
        roots = [m for m in bot.workspace.roots(CHANNEL) if m.text.startswith(f"Run {run_id}")]
        assert len(roots) == 1, [m.text for m in roots]
        assert (await delivery.thread(run_id)) == (CHANNEL, roots[0].ts)
        thread = [m.text.split(" ", 1)[0] for m in bot.workspace.thread(roots[0].ts)]
        entries = await bot.runtime.store.read(run_id=run_id)
        assert thread == [f"`#{e.seq}`" for e in entries]


async def test_the_catalog_shows_each_runbook_by_its_title(bot: Bot) -> None:
    answer = await bot.command("list restart")
    text = json.dumps(answer.body)
    assert "*Restart a stuck service*" in text and "`restart-service@1`" in text
    assert "disk-full-triage" not in text  # only names containing the query


async def test_bolt_does_not_warn_that_the_token_from_the_environment_goes_unused(
    tmp_path: Path,
    runbooks_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """serve is configured through SLACK_BOT_TOKEN, which bolt also reads by itself; given the
    bot's client too, it used to warn at every start that the token will be unused."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    monkeypatch.setenv("RUNBOOK_DEMO_DIR", str(tmp_path / "demo"))
    with caplog.at_level(logging.WARNING):
        async with running_bot(tmp_path, runbooks_dir) as bot:
            assert (await bot.command("help")).status == 200
    assert [r.getMessage() for r in caplog.records if r.name.startswith("slack_bolt")] == []


async def test_history_lists_each_version_with_who_why_and_the_default(bot: Bot) -> None:
    lines = (await bot.command("history restart-service")).text.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("• `restart-service@1` sha256:`")
    assert lines[0].endswith(" by publisher *(default)*"), lines[0]  # published with no message


async def test_status_of_a_run_says_who_where_and_which_step(bot: Bot) -> None:
    run_id = run_id_of((await bot.command("start restart-service service=api")).text)
    assert (await bot.command(f"status {run_id}")).text == (
        f"Run `{run_id}` of `restart-service@1`, started by <@{SRE}> in <#{CHANNEL}>, is active: "
        "step 1 of 5, *Tell support we are restarting api* (presented)."
    )
    assert (await bot.command("status")).text == (
        f"• `{run_id}` restart-service, started by <@{SRE}>: "
        "step 1 of 5, *Tell support we are restarting api* (presented)"
    )
    await bot.runtime.service.abort(run_id, actor=SRE, reason="drill over")
    assert (await bot.command("status")).text == "No runs are active in this channel."
    assert (await bot.command(f"status {run_id}")).text == (
        f"Run `{run_id}` of `restart-service@1`, started by <@{SRE}> in <#{CHANNEL}>, is aborted "
        "(drill over)."
    )
