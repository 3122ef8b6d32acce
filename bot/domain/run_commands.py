"""Commands are pure functions from (state, command) to the events that record them.

The same functions drive Slack, the terminal drill and the tests. A command that makes no
sense now (a stale click on a finished step) raises CommandRefused and records nothing; an
approval attempt that does not count is itself recorded as `approval.refused`.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.canonical import canonical_json, sha256_hex
from bot.domain.policy import Seen, is_approver, refusal, valid_approvals
from bot.domain.run_events import RunEvent
from bot.domain.run_params import REDACTED, mask, resolve_params, secret_values, template_context
from bot.domain.run_state import (
    FINISHED,
    Event,
    RunState,
    RunStatus,
    StepState,
    StepStatus,
    apply,
    start_state,
)
from bot.domain.runbook import END, Runbook, Step, StepKind
from bot.domain.templates import evaluate_condition, render, render_value
from bot.errors import UserError


class CommandRefused(UserError):
    """The command does not apply to the run as it is now; nothing was recorded."""


@dataclass(frozen=True)
class Pending:
    """An event decided but not yet appended; the service gives it its run_version."""

    kind: RunEvent
    actor: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Context:
    """Everything a decision needs besides the state: the pinned runbook, the time, secrets."""

    runbook: Runbook
    now: datetime
    secrets: Mapping[str, str] = field(default_factory=dict)  # secret params, in memory only


@dataclass
class Batch:
    """Events decided by one command, applied as we go so later decisions see earlier ones."""

    state: RunState
    now: datetime
    events: list[Pending] = field(default_factory=list)

    def add(self, kind: RunEvent, actor: str, payload: dict[str, Any]) -> None:
        self.events.append(Pending(kind, actor, payload))
        event = Event(kind.value, actor, payload, self.now, self.state.version + 1)
        self.state = apply(self.state, event)


# ---- start and advance ---------------------------------------------------------------------


def start(
    *,
    run_id: str,
    runbook: Runbook,
    number: int,
    sha256: str,
    requester: str,
    channel: str,
    given: Mapping[str, str],
    now: datetime,
) -> tuple[list[Pending], dict[str, str]]:
    """The first events of a run, and the secret values to keep in memory for it."""
    values = resolve_params(runbook, given)
    secrets = secret_values(runbook, values)
    recorded = {n: (REDACTED if n in secrets else v) for n, v in values.items()}
    context = {
        **values,
        "steps": {},
        "run": {"id": run_id, "requester": requester, "channel": channel},
    }
    titles = []
    for step in runbook.steps:
        try:
            title = mask(render(step.title, context), secrets)
        except Exception:  # a title that uses steps.* is rendered when the step is presented
            title = step.title
        titles.append({"id": step.id, "title": title, "kind": step.kind.value})
    payload = {
        "runbook": runbook.name,
        "number": number,
        "sha256": sha256,
        "requester": requester,
        "channel": channel,
        "params": recorded,
        "steps": titles,
    }
    first = Event(RunEvent.STARTED.value, requester, payload, now, 1)
    batch = Batch(start_state(run_id, first), now, [Pending(RunEvent.STARTED, requester, payload)])
    advance(batch, Context(runbook, now, secrets))
    return batch.events, secrets


def advance(batch: Batch, ctx: Context) -> None:
    """Present the next step, skipping what a decision jumped over or a `when` rules out."""
    while batch.state.status is RunStatus.ACTIVE:
        current = batch.state.current
        if current is None:
            batch.add(RunEvent.COMPLETED, "runbook-bot", {})
            return
        if current.status is not StepStatus.PENDING:
            return
        step = ctx.runbook.step(current.id)
        goto = batch.state.goto
        if goto == END or (
            goto is not None and batch.state.index(goto) > batch.state.index(step.id)
        ):
            target = "the end" if goto == END else goto
            batch.add(
                RunEvent.STEP_SKIPPED,
                "runbook-bot",
                {"step": step.id, "reason": f"not chosen: the decision went to {target}"},
            )
            continue
        context = template_context(batch.state, ctx.secrets)
        if step.when is not None and not evaluate_condition(step.when, context):
            batch.add(
                RunEvent.STEP_SKIPPED,
                "runbook-bot",
                {"step": step.id, "reason": f"condition is false: {step.when}"},
            )
            continue
        args = mask(render_value(step.with_, context), ctx.secrets)
        presented = {
            "step": step.id,
            "kind": step.kind.value,
            "title": mask(render(step.title, context), ctx.secrets),
            "text": mask(render(step.text, context), ctx.secrets),
            "args": args,
            "args_hash": sha256_hex(canonical_json(args)),
        }
        if step.hook:
            presented["hook"] = step.hook
        batch.add(RunEvent.STEP_PRESENTED, "runbook-bot", presented)
        if step.guard is not None:
            guard = step.guard
            batch.add(
                RunEvent.APPROVAL_REQUESTED,
                "runbook-bot",
                {
                    "step": step.id,
                    "roles": guard.approvers,
                    "quorum": guard.quorum,
                    "allow_requester": guard.allow_requester,
                    "expires_s": guard.expires,
                    "sha256": batch.state.sha256,
                    "args_hash": presented["args_hash"],
                },
            )
        return


def recorded_then_advance(
    state: RunState, ctx: Context, kind: RunEvent, actor: str, payload: dict[str, Any]
) -> list[Pending]:
    """The decision that finishes the current step, then whatever comes next."""
    batch = Batch(state, ctx.now)
    batch.add(kind, actor, payload)
    advance(batch, ctx)
    return batch.events


# ---- people's decisions --------------------------------------------------------------------


def _no_such_step(state: RunState, step_id: str) -> CommandRefused:
    ids = ", ".join(step.id for step in state.steps)
    return CommandRefused(f"Run {state.run_id} has no step {step_id!r}; its steps are {ids}.")


def _active_step(state: RunState, step_id: str) -> StepState:
    if state.status is not RunStatus.ACTIVE:
        raise CommandRefused(
            f"Run {state.run_id} is {state.status.value}; nothing more can be decided."
        )
    try:
        step = state.step(step_id)
    except KeyError:
        raise _no_such_step(state, step_id) from None
    current = state.current
    if current is None or current.id != step_id:
        if step.status in FINISHED:
            raise CommandRefused(
                f"Step {step_id!r} is already {step.status.value} (by {step.by or 'the bot'})."
            )
        raise CommandRefused(
            f"Step {step_id!r} is not the current step; the run is at {current.id if current else 'its end'}."
        )
    return step


def _ready(state: RunState, step: StepState, ctx: Context, allowed: Set[StepStatus]) -> Step:
    """The step exists, is current, is in an allowed status, and its guard (if any) holds."""
    spec = ctx.runbook.step(step.id)
    if step.status is StepStatus.AWAITING_APPROVAL:
        raise CommandRefused(f"Step {step.id!r} needs approval first.")
    if step.status is StepStatus.DENIED:
        raise CommandRefused(
            f"Step {step.id!r} was denied ({step.note}); skip it or abort the run."
        )
    if step.status not in allowed:
        raise CommandRefused(f"Step {step.id!r} is {step.status.value}; that cannot be done now.")
    if (
        spec.guard is not None
        and len(valid_approvals(state, step, spec.guard, ctx.now)) < spec.guard.quorum
    ):
        raise CommandRefused(
            f"The approvals for step {step.id!r} have expired; ask for approval again."
        )
    return spec


def _kind(spec: Step, *kinds: StepKind) -> None:
    if spec.kind not in kinds:
        raise CommandRefused(
            f"Step {spec.id!r} is a {spec.kind.value} step; that button does not apply."
        )


def mark_done(
    state: RunState, step_id: str, *, actor: str, note: str, ctx: Context
) -> list[Pending]:
    step = _active_step(state, step_id)
    _kind(_ready(state, step, ctx, {StepStatus.PRESENTED}), StepKind.CHECKLIST)
    payload = {"step": step_id, "note": mask(note, ctx.secrets)}
    return recorded_then_advance(state, ctx, RunEvent.STEP_DONE, actor, payload)


def skip(state: RunState, step_id: str, *, actor: str, reason: str, ctx: Context) -> list[Pending]:
    step = _active_step(state, step_id)
    if not reason.strip():
        raise CommandRefused("Say why the step is skipped; the reason goes into the ledger.")
    if step.status is StepStatus.RUNNING:
        raise CommandRefused(f"Step {step_id!r} is running; wait for it or abort the run.")
    payload = {"step": step_id, "reason": mask(reason, ctx.secrets)}
    return recorded_then_advance(state, ctx, RunEvent.STEP_SKIPPED, actor, payload)


def choose(state: RunState, step_id: str, *, actor: str, label: str, ctx: Context) -> list[Pending]:
    step = _active_step(state, step_id)
    spec = _ready(state, step, ctx, {StepStatus.PRESENTED})
    _kind(spec, StepKind.DECISION)
    choice = next((c for c in spec.choices or [] if c.label == label), None)
    if choice is None:
        labels = ", ".join(c.label for c in spec.choices or [])
        raise CommandRefused(
            f"{label!r} is not a choice of step {step_id!r}; choose one of: {labels}."
        )
    payload = {"step": step_id, "choice": choice.label, "goto": choice.goto}
    return recorded_then_advance(state, ctx, RunEvent.DECISION_TAKEN, actor, payload)


def approve(
    state: RunState,
    step_id: str,
    *,
    actor: str,
    actor_roles: Set[str],
    seen: Seen | None,
    ctx: Context,
) -> list[Pending]:
    step = _guarded(state, step_id, ctx)
    guard = ctx.runbook.step(step_id).guard
    assert guard is not None
    why = refusal(state, step, guard, actor=actor, actor_roles=actor_roles, now=ctx.now, seen=seen)
    if why is not None:
        return [
            Pending(
                RunEvent.APPROVAL_REFUSED,
                actor,
                {"step": step_id, "action": "approve", "why": why.value},
            )
        ]
    count = len(valid_approvals(state, step, guard, ctx.now)) + 1
    payload = {
        "step": step_id,
        "sha256": state.sha256,
        "args_hash": step.args_hash,
        "count": count,
        "quorum": guard.quorum,
        "quorum_reached": count >= guard.quorum,
    }
    return [Pending(RunEvent.APPROVAL_GRANTED, actor, payload)]


def deny(
    state: RunState, step_id: str, *, actor: str, actor_roles: Set[str], reason: str, ctx: Context
) -> list[Pending]:
    step = _guarded(state, step_id, ctx)
    guard = ctx.runbook.step(step_id).guard
    assert guard is not None
    if step.status is not StepStatus.AWAITING_APPROVAL:
        why = "the step is already decided"
    elif not is_approver(guard, actor_roles) and actor != state.requester:
        why = "not an approver"
    else:
        if not reason.strip():
            raise CommandRefused("Say why the step is denied; the reason goes into the ledger.")
        payload = {"step": step_id, "reason": mask(reason, ctx.secrets)}
        return [Pending(RunEvent.APPROVAL_DENIED, actor, payload)]
    return [
        Pending(RunEvent.APPROVAL_REFUSED, actor, {"step": step_id, "action": "deny", "why": why})
    ]


def request_again(state: RunState, step_id: str, *, actor: str, ctx: Context) -> list[Pending]:
    """Renew an expired approval request (or one whose approvals expired before the step ran).
    A denial stands: asking again must not become a way to shop for another approver."""
    step = _guarded(state, step_id, ctx)
    guard = ctx.runbook.step(step_id).guard
    assert guard is not None
    if step.status is StepStatus.DENIED:
        raise CommandRefused(
            f"Step {step_id!r} was denied by {step.by} ({step.note}); a denial stands. Skip the step or abort the run."
        )
    if (
        step.status is StepStatus.PRESENTED
        and len(valid_approvals(state, step, guard, ctx.now)) >= guard.quorum
    ):
        raise CommandRefused(f"Step {step_id!r} is approved; no new request is needed.")
    payload = {
        "step": step_id,
        "roles": guard.approvers,
        "quorum": guard.quorum,
        "allow_requester": guard.allow_requester,
        "expires_s": guard.expires,
        "sha256": state.sha256,
        "args_hash": step.args_hash,
        "again": True,
    }
    return [Pending(RunEvent.APPROVAL_REQUESTED, actor, payload)]


def _guarded(state: RunState, step_id: str, ctx: Context) -> StepState:
    step = _active_step(state, step_id)
    if ctx.runbook.step(step_id).guard is None:
        raise CommandRefused(f"Step {step_id!r} has no guard; there is nothing to approve.")
    return step


# ---- the whole run -------------------------------------------------------------------------


def abort(state: RunState, *, actor: str, reason: str, ctx: Context) -> list[Pending]:
    if state.status is not RunStatus.ACTIVE:
        raise CommandRefused(f"Run {state.run_id} is already {state.status.value}.")
    if not reason.strip():
        raise CommandRefused("Say why the run is aborted; the reason goes into the ledger.")
    return [Pending(RunEvent.ABORTED, actor, {"reason": mask(reason, ctx.secrets)})]


def amend_note(
    state: RunState, step_id: str, *, actor: str, note: str, ctx: Context
) -> list[Pending]:
    try:
        step = state.step(step_id)
    except KeyError:
        raise _no_such_step(state, step_id) from None
    if step.status not in FINISHED:
        raise CommandRefused(
            f"Step {step_id!r} is not finished; add the note when marking it done."
        )
    return [
        Pending(
            RunEvent.NOTE_AMENDED,
            actor,
            {"step": step_id, "note": mask(note, ctx.secrets), "was": step.note},
        )
    ]
