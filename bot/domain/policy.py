"""Who may approve a guarded step, and whether the approvals given still count. Pure."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.run_events import Refusal
from bot.domain.run_state import Approval, RunState, StepState, StepStatus
from bot.domain.runbook import Guard


@dataclass(frozen=True)
class Seen:
    """What the approver was shown (from the button): the version hash and the arguments' hash."""

    sha256: str
    args_hash: str


def valid_approvals(
    state: RunState, step: StepState, guard: Guard, now: datetime
) -> list[Approval]:
    """Approvals bound to what is shown now and not yet expired, one per person."""
    ttl = timedelta(seconds=guard.expires)
    seen: dict[str, Approval] = {}
    for approval in step.approvals:
        if (
            approval.sha256 == state.sha256
            and approval.args_hash == step.args_hash
            and now - approval.at < ttl
        ):
            seen.setdefault(approval.actor, approval)
    return list(seen.values())


def is_approver(guard: Guard, actor_roles: Set[str]) -> bool:
    return bool(set(guard.approvers) & actor_roles)


def refusal(
    state: RunState,
    step: StepState,
    guard: Guard,
    *,
    actor: str,
    actor_roles: Set[str],
    now: datetime,
    seen: Seen | None,
) -> Refusal | None:
    """None when this approval counts; otherwise why not. Order: the most useful reason first."""
    if step.status is not StepStatus.AWAITING_APPROVAL:
        return Refusal.ALREADY_DECIDED
    if seen is not None and (seen.sha256 != state.sha256 or seen.args_hash != step.args_hash):
        return Refusal.STALE
    if not is_approver(guard, actor_roles):
        return Refusal.NOT_APPROVER
    if actor == state.requester and not guard.allow_requester:
        return Refusal.REQUESTER
    if step.requested_at is not None and now - step.requested_at >= timedelta(
        seconds=guard.expires
    ):
        return Refusal.EXPIRED
    if any(a.actor == actor for a in valid_approvals(state, step, guard, now)):
        return Refusal.ALREADY_APPROVED
    return None
