"""Block Kit builders. Pure: state in, blocks out; they never query anything.

Limits honoured (SLACK-FACTS.md): 50 blocks a message, section text 3,000 characters, button
text 75, button value 2,000; long hook output is cut and points to the ledger export.
"""

from __future__ import annotations

import json
from typing import Any

from bot.domain.run_state import RunState, RunStatus, StepState, StepStatus
from bot.domain.runbook import Step, StepKind
from bot.domain.versions import VersionInfo
from bot.ledger.chain import Entry
from bot.ledger.export import describe
from bot.slack import messages
from bot.slack.ids import ActionId, ButtonValue, StartValue
from bot.slack.text import escape, render, truncate

Block = dict[str, Any]
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_BUTTON_TEXT = 75
OUTPUT_LIMIT = 1500  # hook output shown in a card; the export has all of it


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION)}}


def _context(text: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_SECTION)}],
    }


def button(
    text: str, action: ActionId, value: str, *, style: str | None = None, suffix: str = ""
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(text, MAX_BUTTON_TEXT)},
        "action_id": f"{action.value}{suffix}",
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def fit(blocks: list[Block]) -> list[Block]:
    """At most 50 blocks; the last one says that more exists."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    return [
        *blocks[: MAX_BLOCKS - 1],
        _context("…more than fits in one message; see the ledger export."),
    ]


def _value(state: RunState, step: StepState | None = None, **extra: Any) -> str:
    return ButtonValue(
        run=state.run_id,
        step=step.id if step else "",
        sha=state.sha256,
        args=step.args_hash if step else "",
        v=state.version,
        **extra,
    ).encode()


def root_message(state: RunState, title: str) -> list[Block]:
    """The run's first message in the channel; its thread is the transcript."""
    text = render(
        messages.ROOT,
        title=title,
        runbook=state.runbook,
        number=state.number,
        short_hash=state.sha256[:12],
        run_id=state.run_id,
        requester=state.requester,
        params=state.params,
    )
    blocks = [_section(text), _context(f"Status: *{state.status.value}*")]
    if state.status is RunStatus.ACTIVE:
        blocks.append(
            {
                "type": "actions",
                "elements": [button("Abort run", ActionId.ABORT, _value(state), style="danger")],
            }
        )
    return blocks


def step_card(state: RunState, step: StepState, spec: Step) -> list[Block]:
    """One step: its text, what it would run, its guard, and the buttons that apply now."""
    number = state.index(step.id) + 1
    kind = f"hook `{spec.hook}`" if spec.hook else spec.kind.value
    blocks = [
        _section(render(messages.STEP_HEADER, number=number, title=step.title, text=step.text))
    ]
    details = [f"Step `{escape(step.id)}` · {kind} · *{step.status.value}*"]
    if step.args:
        details.append(f"with `{escape(truncate(json.dumps(step.args, sort_keys=True), 500))}`")
    blocks.append(_context(" · ".join(details)))
    if spec.guard is not None:
        guard = render(
            messages.GUARD,
            quorum=spec.guard.quorum,
            roles=spec.guard.approvers,
            allow_requester=spec.guard.allow_requester,
            approvers=[a.actor for a in step.approvals],
            minutes=spec.guard.expires // 60,
        )
        blocks.append(_context(guard))
        if step.plan is not None:
            plan = truncate(json.dumps(step.plan, sort_keys=True), OUTPUT_LIMIT)
            blocks.append(_section(f"*Plan (dry run):*\n```{escape(plan)}```"))
    if step.result is not None:
        output = truncate(
            json.dumps(step.result, sort_keys=True),
            OUTPUT_LIMIT,
            suffix="… (cut; the ledger export has it all)",
        )
        blocks.append(_section(f"```{escape(output)}```"))
    if step.error:
        blocks.append(_section(f":warning: {escape(step.error)}"))
    if step.status in (StepStatus.DONE, StepStatus.SKIPPED) and step.by:
        when = step.at.strftime("%Y-%m-%d %H:%M UTC") if step.at else ""
        decided = render(
            messages.DECIDED,
            status=step.status.value.capitalize(),
            by=step.by,
            when=when,
            note=step.note,
        )
        blocks.append(_context(decided))
    elements = (
        _buttons(state, step, spec)
        if state.status is RunStatus.ACTIVE and state.current and state.current.id == step.id
        else []
    )
    if elements:
        blocks.append({"type": "actions", "block_id": f"step:{step.id}", "elements": elements})
    return fit(blocks)


def _buttons(state: RunState, step: StepState, spec: Step) -> list[dict[str, Any]]:
    value = _value(state, step)
    skip = button("Skip", ActionId.STEP_SKIP, value)
    if step.status is StepStatus.AWAITING_APPROVAL:
        return [
            button("Approve", ActionId.APPROVE, value, style="primary"),
            button("Deny", ActionId.DENY, value, style="danger"),
            skip,
        ]
    if step.status is StepStatus.DENIED:
        return [skip]
    if step.status in (StepStatus.FAILED, StepStatus.INTERRUPTED):
        return [button("Retry", ActionId.STEP_RUN, value, style="primary"), skip]
    if step.status is not StepStatus.PRESENTED:
        return []
    if spec.kind is StepKind.HOOK:
        return [button("Run", ActionId.STEP_RUN, value, style="primary"), skip]
    if spec.kind is StepKind.DECISION:
        return [
            button(choice.label, ActionId.CHOOSE, _value(state, step, choice=i), suffix=f".{i}")
            for i, choice in enumerate(spec.choices or [])
        ]
    return [button("Done", ActionId.STEP_DONE, value, style="primary"), skip]


def entry_text(entry: Entry) -> str:
    """One ledger entry as a thread reply: sequence number, short hash, plain words."""
    return render(
        messages.ENTRY,
        seq=entry.seq,
        short_hash=entry.hash[:8],
        actor=entry.actor,
        what=describe(entry),
    )


def entry_blocks(entry: Entry) -> list[Block]:
    return [_context(truncate(entry_text(entry), MAX_SECTION, suffix="… (see the ledger export)"))]


def help_blocks(usage: str, problem: str = "") -> list[Block]:
    blocks = [_section(f":warning: {escape(problem)}")] if problem else []
    return [*blocks, _section(usage)]


def catalog_blocks(versions: list[VersionInfo], titles: dict[str, str]) -> list[Block]:
    """Each runbook's default version with a Start button."""
    if not versions:
        return [_section("No runbooks are published yet. An admin runs `runbook-bot publish`.")]
    blocks: list[Block] = []
    for version in versions:
        title = titles.get(version.name, version.name)
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": truncate(
                        f"*{escape(title)}*\n`{version.name}@{version.number}` · sha256:`{version.sha256[:12]}`",
                        MAX_SECTION,
                    ),
                },
                "accessory": button(
                    "Start",
                    ActionId.START,
                    StartValue(name=version.name, number=version.number).encode(),
                ),
            }
        )
    return fit(blocks)
