"""Commands around automation hooks: run, finish, interrupt, roll back. Pure, like run_commands."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import Any

from bot.domain.policy import is_approver
from bot.domain.run_commands import (
    Batch,
    CommandRefused,
    Context,
    Pending,
    _active_step,
    _kind,
    _ready,
    advance,
)
from bot.domain.run_events import RunEvent
from bot.domain.run_params import mask
from bot.domain.run_state import RunState, RunStatus, StepStatus
from bot.domain.runbook import StepKind


def idempotency_key(state: RunState, step_id: str, attempt: int) -> str:
    return f"{state.run_id}:{step_id}:{attempt}"


def start_hook(state: RunState, step_id: str, *, actor: str, ctx: Context) -> list[Pending]:
    step = _active_step(state, step_id)
    spec = _ready(
        state, step, ctx, {StepStatus.PRESENTED, StepStatus.FAILED, StepStatus.INTERRUPTED}
    )
    _kind(spec, StepKind.HOOK)
    attempt = step.attempts + 1
    payload = {
        "step": step_id,
        "hook": spec.hook,
        "attempt": attempt,
        "idempotency_key": idempotency_key(state, step_id, attempt),
    }
    return [Pending(RunEvent.HOOK_STARTED, actor, payload)]


@dataclass(frozen=True)
class HookOutcome:
    ok: bool
    timed_out: bool = False
    duration_ms: int = 0
    result: Any = None
    error: str = ""


def finish_hook(
    state: RunState, step_id: str, attempt: int, outcome: HookOutcome, *, ctx: Context
) -> list[Pending]:
    step = state.step(step_id)
    if (
        step.status is not StepStatus.RUNNING
        or step.attempts != attempt
        or state.status is not RunStatus.ACTIVE
    ):
        return []  # aborted or superseded meanwhile: the outcome changes nothing
    payload: dict[str, Any] = {
        "step": step_id,
        "attempt": attempt,
        "duration_ms": outcome.duration_ms,
    }
    if outcome.result is not None:
        payload["result"] = mask(outcome.result, ctx.secrets)
    batch = Batch(state, ctx.now)
    if outcome.ok:
        batch.add(RunEvent.HOOK_SUCCEEDED, "runbook-bot", payload)
        advance(batch, ctx)
    elif outcome.timed_out:
        batch.add(
            RunEvent.HOOK_TIMED_OUT,
            "runbook-bot",
            {**payload, "error": outcome.error or "timed out"},
        )
    else:
        batch.add(
            RunEvent.HOOK_FAILED,
            "runbook-bot",
            {**payload, "error": mask(outcome.error, ctx.secrets)},
        )
    return batch.events


def interrupted(state: RunState, ctx: Context) -> list[Pending]:
    """After a restart: a hook that started and never finished goes to a person."""
    step = state.current
    if step is None or step.status is not StepStatus.RUNNING:
        return []
    return [
        Pending(
            RunEvent.HOOK_INTERRUPTED, "runbook-bot", {"step": step.id, "attempt": step.attempts}
        )
    ]


def start_rollback(
    state: RunState, step_id: str, *, actor: str, actor_roles: Set[str], ctx: Context
) -> list[Pending]:
    step = _active_step(state, step_id)
    spec = ctx.runbook.step(step_id)
    if spec.rollback is None:
        raise CommandRefused(f"Step {step_id!r} has no rollback.")
    if step.status not in {StepStatus.FAILED, StepStatus.INTERRUPTED}:
        raise CommandRefused(
            f"Step {step_id!r} is {step.status.value}; rollback is offered when a hook fails."
        )
    if spec.guard is not None and (
        not is_approver(spec.guard, actor_roles)
        or (actor == state.requester and not spec.guard.allow_requester)
    ):
        why = "rollback of a guarded step needs one of its approvers (not the requester)"
        return [
            Pending(
                RunEvent.APPROVAL_REFUSED,
                actor,
                {"step": step_id, "action": "rollback", "why": why},
            )
        ]
    return [
        Pending(RunEvent.ROLLBACK_STARTED, actor, {"step": step_id, "hook": spec.rollback.hook})
    ]


def finish_rollback(
    state: RunState, step_id: str, outcome: HookOutcome, *, ctx: Context
) -> list[Pending]:
    payload: dict[str, Any] = {
        "step": step_id,
        "ok": outcome.ok,
        "duration_ms": outcome.duration_ms,
    }
    if outcome.error:
        payload["error"] = mask(outcome.error, ctx.secrets)
    if outcome.result is not None:
        payload["result"] = mask(outcome.result, ctx.secrets)
    return [Pending(RunEvent.ROLLBACK_FINISHED, "runbook-bot", payload)]


PLAN_TIMEOUT_S = 10


def record_plan(
    state: RunState, step_id: str, outcome: HookOutcome, *, ctx: Context
) -> list[Pending]:
    """A dry run's answer, recorded while the step waits for approval (and only then)."""
    step = state.step(step_id)
    if (
        state.status is not RunStatus.ACTIVE
        or step.status is not StepStatus.AWAITING_APPROVAL
        or step.plan is not None
    ):
        return []
    plan = (
        mask(outcome.result, ctx.secrets)
        if outcome.ok
        else {"error": mask(outcome.error, ctx.secrets)}
    )
    return [Pending(RunEvent.HOOK_PLANNED, "runbook-bot", {"step": step_id, "plan": plan})]
