"""The names of everything that can happen in a run. Kinds are ledger `kind` strings: stable."""

from __future__ import annotations

from enum import StrEnum


class RunEvent(StrEnum):
    STARTED = "run.started"
    STEP_PRESENTED = "step.presented"
    STEP_DONE = "step.done"
    STEP_SKIPPED = "step.skipped"
    DECISION_TAKEN = "decision.taken"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_GRANTED = "approval.granted"
    APPROVAL_DENIED = "approval.denied"
    APPROVAL_REFUSED = "approval.refused"
    HOOK_PLANNED = "hook.planned"
    HOOK_STARTED = "hook.started"
    HOOK_SUCCEEDED = "hook.succeeded"
    HOOK_FAILED = "hook.failed"
    HOOK_TIMED_OUT = "hook.timed_out"
    HOOK_INTERRUPTED = "hook.interrupted"
    ROLLBACK_STARTED = "rollback.started"
    ROLLBACK_FINISHED = "rollback.finished"
    NOTE_AMENDED = "note.amended"
    ABORTED = "run.aborted"
    COMPLETED = "run.completed"


class Refusal(StrEnum):
    """Why an approval attempt did not count; recorded with every refused attempt."""

    NOT_APPROVER = "not an approver"
    REQUESTER = "the requester cannot approve their own run (two-person rule)"
    ALREADY_APPROVED = "already approved this step"
    ALREADY_DECIDED = "the step is already decided"
    EXPIRED = "the approval request has expired"
    STALE = "the step changed since it was shown (version, step or arguments differ)"
