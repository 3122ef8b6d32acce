"""Block Kit builders: the right buttons per state, Slack's limits, and Slack escaping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.domain import hook_commands as hooks
from bot.domain import run_commands as rc
from bot.domain.versions import VersionInfo
from bot.errors import UserError
from bot.ledger.chain import Entry
from bot.slack.blocks import MAX_BLOCKS, catalog_blocks, entry_text, fit, root_message, step_card
from bot.slack.ids import ActionId, ButtonValue, decode, decode_start
from bot.slack.text import escape, render
from tests.domain.run_sim import Sim, load


def actions(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def card(sim: Sim, step_id: str) -> list[dict[str, Any]]:
    return step_card(sim.state, sim.state.step(step_id), sim.runbook.step(step_id))


def restart_sim() -> Sim:
    return Sim(load("restart-service"), requester="U0SRE0001", params={"service": "api"})


def test_root_message_names_version_hash_requester_and_params() -> None:
    sim = Sim(
        load("security-incident-intake"),
        params={"case_id": "SEC-1", "reporter_contact": "+44 7700 900123"},
    )
    blocks = root_message(sim.state, "Security incident intake")
    text = json.dumps(blocks)
    assert (
        "security-incident-intake@1" in text
        and sim.state.sha256[:12] in text
        and "<@U_REQ>" in text
    )
    assert "reporter_contact=[secret]" in text and "900123" not in text
    assert actions(blocks) == [ActionId.ABORT.value]


def test_checklist_hook_approval_and_decision_buttons() -> None:
    sim = restart_sim()
    assert actions(card(sim, "announce")) == ["runbook.step.done", "runbook.step.skip"]
    sim.record(rc.mark_done(sim.state, "announce", actor="U0SRE0001", note="", ctx=sim.ctx))
    assert actions(card(sim, "check")) == ["runbook.step.run", "runbook.step.skip"]
    done = card(sim, "announce")
    assert actions(done) == [] and "Done by <@U0SRE0001>" in json.dumps(done)
    sim.record(hooks.start_hook(sim.state, "check", actor="U", ctx=sim.ctx))
    assert actions(card(sim, "check")) == []  # running: nothing to click
    sim.record(
        hooks.finish_hook(
            sim.state, "check", 1, hooks.HookOutcome(ok=True, result={"status": 200}), ctx=sim.ctx
        )
    )
    restart = card(sim, "restart")
    assert actions(restart) == [
        "runbook.approval.approve",
        "runbook.approval.deny",
        "runbook.step.skip",
    ]
    assert "Needs 1 approval(s) from incident-commander · not the requester" in json.dumps(
        restart, ensure_ascii=False
    )

    triage = Sim(load("disk-full-triage"), params={"host": "db1"})
    triage.record(hooks.start_hook(triage.state, "measure", actor="U", ctx=triage.ctx))
    triage.record(
        hooks.finish_hook(triage.state, "measure", 1, hooks.HookOutcome(ok=True), ctx=triage.ctx)
    )
    assert actions(card(triage, "cause")) == [
        "runbook.step.choose.0",
        "runbook.step.choose.1",
        "runbook.step.choose.2",
    ]


def test_button_values_round_trip_and_carry_what_was_shown() -> None:
    sim = restart_sim()
    [block] = [b for b in card(sim, "announce") if b["type"] == "actions"]
    value = decode(block["elements"][0]["value"])
    assert value == ButtonValue(
        run="run-0000abcd",
        step="announce",
        sha=sim.state.sha256,
        args=sim.state.step("announce").args_hash,
        v=sim.state.version,
    )


@pytest.mark.parametrize(
    "value",
    [
        '{"run":"run-1;drop"}',
        "not json",
        '{"run":"run-0123abcd","extra":1}',
        '{"run":"run-0123abcd","sha":"zz"}',
        "{}",
    ],
)
def test_tampered_button_values_are_refused(value: str) -> None:
    with pytest.raises(UserError, match="That button's data is not valid"):
        decode(value)
    with pytest.raises(UserError, match="That Start button's data is not valid"):
        decode_start(value)


def test_long_output_is_cut_and_blocks_stay_within_limits() -> None:
    sim = restart_sim()
    sim.record(rc.mark_done(sim.state, "announce", actor="U", note="", ctx=sim.ctx))
    sim.record(hooks.start_hook(sim.state, "check", actor="U", ctx=sim.ctx))
    huge = {"log": "line\n" * 5000}
    sim.record(
        hooks.finish_hook(
            sim.state, "check", 1, hooks.HookOutcome(ok=True, result=huge), ctx=sim.ctx
        )
    )
    blocks = card(sim, "check")
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert "the ledger export has it all" in json.dumps(blocks)
    assert len(json.dumps(blocks)) < 12_000
    assert len(fit([{"type": "divider"}] * 80)) == MAX_BLOCKS


def test_escaping_is_slack_escaping_not_html() -> None:
    assert escape("it's <!channel> & <@U1>") == "it's &lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert render("{{ note }} by {{ who }}", note="it's <b>", who="Zoë") == "it's &lt;b&gt; by Zoë"
    entry = Entry(
        7,
        "2026-01-01T00:00:00Z",
        "run-0000abcd",
        3,
        "step.done",
        "U1",
        json.dumps({"step": "a", "note": "<!here> it's done"}),
        "0" * 64,
        "ab" * 32,
    )
    assert entry_text(entry) == "`#7` `abababab` <@U1> Marked 'a' done: &lt;!here&gt; it's done."


def test_catalog_has_a_start_button_per_default_version() -> None:
    versions = [VersionInfo("restart-service", 2, "c" * 64, "src", "a", "", "t", 5)]
    blocks = catalog_blocks(versions, {"restart-service": "Restart a stuck service"})
    assert blocks[0]["accessory"]["action_id"] == "runbook.start"
    assert decode_start(blocks[0]["accessory"]["value"]).number == 2
    assert "No runbooks are published yet" in json.dumps(catalog_blocks([], {}))
