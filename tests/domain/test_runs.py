"""The run engine's pure core: starting, presenting, deciding, approving, hooks, aborting."""

from __future__ import annotations

import pytest

from bot.domain import hook_commands as hooks
from bot.domain import run_commands as rc
from bot.domain.policy import Seen
from bot.domain.run_commands import CommandRefused
from bot.domain.run_events import Refusal, RunEvent
from bot.domain.run_state import RunStatus, StepStatus
from bot.errors import UserError
from tests.domain.run_sim import Sim, load, parse

IC = {"incident-commander"}


def restart(**params: str) -> Sim:
    return Sim(load("restart-service"), params={"service": "api", **params})


def test_start_pins_version_records_params_and_presents_the_first_step() -> None:
    sim = restart(env="production")
    assert sim.kinds() == ["run.started", "step.presented"]
    started = sim.events[0].payload
    assert started["params"] == {"service": "api", "env": "production"}
    assert started["number"] == 1 and len(started["sha256"]) == 64
    assert [s["title"] for s in started["steps"]][2] == "Restart api in production"
    state = sim.state
    assert state.current is not None and state.current.id == "announce"
    assert state.current.title == "Tell support we are restarting api"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "restart-service needs service (string); add it as service=VALUE."),
        ({"service": "API!"}, "service 'API!' does not match ^[a-z0-9-]+$."),
        ({"service": "api", "env": "prod"}, "env must be one of staging, production, not 'prod'."),
        (
            {"service": "api", "colour": "red"},
            "restart-service has no param colour; it takes: service, env.",
        ),
    ],
)
def test_bad_params_are_refused_with_a_sentence(params: dict[str, str], message: str) -> None:
    with pytest.raises(UserError) as caught:
        Sim(load("restart-service"), params=params)
    assert str(caught.value) == message


def test_secret_params_never_reach_the_record() -> None:
    sim = Sim(
        load("security-incident-intake"),
        params={"case_id": "SEC-1", "reporter_contact": "+44 7700 900123"},
    )
    assert sim.events[0].payload["params"]["reporter_contact"] == "[secret]"
    sim.record(
        rc.mark_done(
            sim.state,
            "acknowledge",
            actor="U_L",
            note="called +44 7700 900123 at 10:02",
            ctx=sim.ctx,
        )
    )
    assert all("900123" not in str(e.payload) for e in sim.events)
    assert "called [secret] at 10:02" in str(sim.events[-2].payload)


def test_checklist_done_moves_to_the_next_step_and_hook_success_too() -> None:
    sim = restart()
    sim.record(rc.mark_done(sim.state, "announce", actor="U_SUP", note="posted", ctx=sim.ctx))
    assert sim.state.current is not None and sim.state.current.id == "check"
    [started] = sim.record(hooks.start_hook(sim.state, "check", actor="U_REQ", ctx=sim.ctx))
    assert started.payload["idempotency_key"] == "run-0000abcd:check:1"
    assert sim.state.step("check").status is StepStatus.RUNNING
    outcome = hooks.HookOutcome(ok=True, duration_ms=12, result={"status": 200})
    sim.record(hooks.finish_hook(sim.state, "check", 1, outcome, ctx=sim.ctx))
    assert sim.kinds()[-3:] == ["hook.succeeded", "step.presented", "approval.requested"]
    assert sim.state.step("check").result == {"status": 200}


def test_wrong_buttons_and_stale_clicks_record_nothing() -> None:
    sim = restart()
    with pytest.raises(CommandRefused, match="is a checklist step"):
        hooks.start_hook(sim.state, "announce", actor="U", ctx=sim.ctx)
    with pytest.raises(CommandRefused, match="not the current step; the run is at announce"):
        rc.mark_done(sim.state, "verify", actor="U", note="", ctx=sim.ctx)
    sim.record(rc.mark_done(sim.state, "announce", actor="U1", note="", ctx=sim.ctx))
    with pytest.raises(CommandRefused, match=r"already done \(by U1\)"):
        rc.mark_done(sim.state, "announce", actor="U2", note="", ctx=sim.ctx)
    with pytest.raises(CommandRefused, match="no step 'nope'"):
        rc.mark_done(sim.state, "nope", actor="U2", note="", ctx=sim.ctx)


def at_restart(**params: str) -> Sim:
    sim = restart(**params)
    sim.record(rc.mark_done(sim.state, "announce", actor="U", note="", ctx=sim.ctx))
    sim.record(hooks.start_hook(sim.state, "check", actor="U", ctx=sim.ctx))
    sim.record(hooks.finish_hook(sim.state, "check", 1, hooks.HookOutcome(ok=True), ctx=sim.ctx))
    assert sim.state.current is not None and sim.state.current.id == "restart"
    return sim


def test_guarded_step_requests_approval_and_blocks_running() -> None:
    sim = at_restart()
    assert sim.kinds()[-2:] == ["step.presented", "approval.requested"]
    assert sim.state.step("restart").status is StepStatus.AWAITING_APPROVAL
    with pytest.raises(CommandRefused, match="needs approval first"):
        hooks.start_hook(sim.state, "restart", actor="U_IC", ctx=sim.ctx)


def approve(sim: Sim, actor: str, roles: set[str] = IC, seen: Seen | None = None) -> rc.Pending:
    [event] = sim.record(
        rc.approve(sim.state, "restart", actor=actor, actor_roles=roles, seen=seen, ctx=sim.ctx)
    )
    return event


def test_refused_approvals_are_recorded_with_the_reason() -> None:
    sim = at_restart()
    assert approve(sim, "U_REQ").payload["why"] == Refusal.REQUESTER.value
    assert approve(sim, "U_OUT", roles=set()).payload["why"] == Refusal.NOT_APPROVER.value
    stale = Seen(sha256=sim.state.sha256, args_hash="0" * 64)
    assert approve(sim, "U_IC", seen=stale).payload["why"] == Refusal.STALE.value
    other_version = Seen(sha256="f" * 64, args_hash=sim.state.step("restart").args_hash)
    assert approve(sim, "U_IC", seen=other_version).payload["why"] == Refusal.STALE.value
    assert sim.kinds().count("approval.refused") == 4
    granted = approve(sim, "U_IC", seen=Seen(sim.state.sha256, sim.state.step("restart").args_hash))
    assert granted.kind is RunEvent.APPROVAL_GRANTED and granted.payload["quorum_reached"] is True
    assert approve(sim, "U_IC2").payload["why"] == Refusal.ALREADY_DECIDED.value
    [run] = sim.record(hooks.start_hook(sim.state, "restart", actor="U_REQ", ctx=sim.ctx))
    assert run.kind is RunEvent.HOOK_STARTED


def test_approval_after_the_request_expired_is_refused_and_can_be_renewed() -> None:
    sim = at_restart()
    sim.wait(minutes=16)
    assert approve(sim, "U_IC").payload["why"] == Refusal.EXPIRED.value
    sim.record(rc.request_again(sim.state, "restart", actor="U_REQ", ctx=sim.ctx))
    assert approve(sim, "U_IC").kind is RunEvent.APPROVAL_GRANTED


def test_an_approval_that_expires_before_the_hook_runs_no_longer_counts() -> None:
    sim = at_restart()
    approve(sim, "U_IC")
    sim.wait(minutes=15)
    with pytest.raises(CommandRefused, match="approvals for step 'restart' have expired"):
        hooks.start_hook(sim.state, "restart", actor="U_REQ", ctx=sim.ctx)


def test_quorum_needs_distinct_approvers() -> None:
    sim = Sim(load("database-failover"), params={"cluster": "orders"})
    sim.record(rc.mark_done(sim.state, "freeze-writes", actor="U", note="", ctx=sim.ctx))
    sim.record(hooks.start_hook(sim.state, "check-lag", actor="U", ctx=sim.ctx))
    sim.record(
        hooks.finish_hook(sim.state, "check-lag", 1, hooks.HookOutcome(ok=True), ctx=sim.ctx)
    )
    dba = {"dba"}
    first = sim.record(
        rc.approve(sim.state, "promote", actor="U_D1", actor_roles=dba, seen=None, ctx=sim.ctx)
    )
    assert first[0].payload["quorum_reached"] is False
    again = sim.record(
        rc.approve(sim.state, "promote", actor="U_D1", actor_roles=dba, seen=None, ctx=sim.ctx)
    )
    assert again[0].payload["why"] == Refusal.ALREADY_APPROVED.value
    assert sim.state.step("promote").status is StepStatus.AWAITING_APPROVAL
    second = sim.record(
        rc.approve(sim.state, "promote", actor="U_D2", actor_roles=dba, seen=None, ctx=sim.ctx)
    )
    assert second[0].payload["quorum_reached"] is True
    assert sim.state.step("promote").status is StepStatus.PRESENTED


def test_one_denial_stops_the_step_until_someone_skips_or_aborts() -> None:
    sim = at_restart()
    [denied] = sim.record(
        rc.deny(
            sim.state, "restart", actor="U_IC", actor_roles=IC, reason="peak traffic", ctx=sim.ctx
        )
    )
    assert denied.kind is RunEvent.APPROVAL_DENIED
    with pytest.raises(CommandRefused, match="Say why the step is denied"):
        rc.deny(
            at_restart().state, "restart", actor="U_IC", actor_roles=IC, reason=" ", ctx=sim.ctx
        )
    assert approve(sim, "U_IC2").payload["why"] == Refusal.ALREADY_DECIDED.value
    with pytest.raises(CommandRefused, match=r"was denied \(peak traffic\)"):
        hooks.start_hook(sim.state, "restart", actor="U_REQ", ctx=sim.ctx)
    [refused] = rc.deny(
        sim.state, "restart", actor="U_OUT", actor_roles=set(), reason="x", ctx=sim.ctx
    )
    assert refused.kind is RunEvent.APPROVAL_REFUSED
    sim.record(
        rc.skip(sim.state, "restart", actor="U_REQ", reason="denied; restart tomorrow", ctx=sim.ctx)
    )
    assert sim.state.current is not None and sim.state.current.id == "verify"


def test_failure_offers_retry_and_a_guarded_rollback() -> None:
    sim = at_restart()
    approve(sim, "U_IC")
    sim.record(hooks.start_hook(sim.state, "restart", actor="U_REQ", ctx=sim.ctx))
    sim.record(
        hooks.finish_hook(
            sim.state, "restart", 1, hooks.HookOutcome(ok=False, error="exit 1"), ctx=sim.ctx
        )
    )
    assert sim.state.step("restart").status is StepStatus.FAILED
    [refused] = sim.record(
        hooks.start_rollback(sim.state, "restart", actor="U_REQ", actor_roles=set(), ctx=sim.ctx)
    )
    assert refused.kind is RunEvent.APPROVAL_REFUSED
    [rollback] = sim.record(
        hooks.start_rollback(sim.state, "restart", actor="U_IC", actor_roles=IC, ctx=sim.ctx)
    )
    assert rollback.kind is RunEvent.ROLLBACK_STARTED and rollback.payload["hook"] == "demo.start"
    sim.record(hooks.finish_rollback(sim.state, "restart", hooks.HookOutcome(ok=True), ctx=sim.ctx))
    assert sim.state.step("restart").rolled_back is True
    [retry] = sim.record(hooks.start_hook(sim.state, "restart", actor="U_REQ", ctx=sim.ctx))
    assert (
        retry.payload["attempt"] == 2
        and retry.payload["idempotency_key"] == "run-0000abcd:restart:2"
    )


def test_a_late_hook_outcome_after_abort_changes_nothing() -> None:
    sim = at_restart()
    approve(sim, "U_IC")
    sim.record(hooks.start_hook(sim.state, "restart", actor="U_REQ", ctx=sim.ctx))
    sim.record(rc.abort(sim.state, actor="U_IC", reason="wrong service", ctx=sim.ctx))
    assert hooks.finish_hook(sim.state, "restart", 1, hooks.HookOutcome(ok=True), ctx=sim.ctx) == []
    assert sim.state.status is RunStatus.ABORTED and sim.state.reason == "wrong service"
    with pytest.raises(CommandRefused, match="is aborted"):
        rc.mark_done(sim.state, "restart", actor="U", note="", ctx=sim.ctx)


def test_interrupted_hook_goes_to_a_person() -> None:
    sim = at_restart()
    approve(sim, "U_IC")
    sim.record(hooks.start_hook(sim.state, "restart", actor="U_REQ", ctx=sim.ctx))
    [event] = sim.record(hooks.interrupted(sim.state, sim.ctx))
    assert event.kind is RunEvent.HOOK_INTERRUPTED
    assert sim.state.step("restart").status is StepStatus.INTERRUPTED
    assert hooks.interrupted(sim.state, sim.ctx) == []


def test_decisions_skip_what_they_jump_over_and_end_finishes() -> None:
    sim = Sim(load("disk-full-triage"), params={"host": "db1"})
    sim.record(hooks.start_hook(sim.state, "measure", actor="U", ctx=sim.ctx))
    sim.record(
        hooks.finish_hook(
            sim.state, "measure", 1, hooks.HookOutcome(ok=True, result={"used": 97}), ctx=sim.ctx
        )
    )
    with pytest.raises(
        CommandRefused, match="choose one of: Old logs, Real data growth, It cleared itself"
    ):
        rc.choose(sim.state, "cause", actor="U", label="Aliens", ctx=sim.ctx)
    sim.record(rc.choose(sim.state, "cause", actor="U", label="Real data growth", ctx=sim.ctx))
    assert sim.state.step("rotate-logs").status is StepStatus.SKIPPED
    assert (
        sim.state.current is not None and sim.state.current.id == "grow-volume"
    )  # its `when` holds

    ended = Sim(load("disk-full-triage"), params={"host": "db1"})
    ended.record(hooks.start_hook(ended.state, "measure", actor="U", ctx=ended.ctx))
    ended.record(
        hooks.finish_hook(ended.state, "measure", 1, hooks.HookOutcome(ok=True), ctx=ended.ctx)
    )
    ended.record(
        rc.choose(ended.state, "cause", actor="U", label="It cleared itself", ctx=ended.ctx)
    )
    assert ended.state.status is RunStatus.COMPLETED
    assert ended.kinds()[-4:] == ["step.skipped", "step.skipped", "step.skipped", "run.completed"]


def test_when_conditions_skip_steps_with_the_reason() -> None:
    sim = Sim(load("customer-comms-outage"), params={"product": "Checkout", "severity": "minor"})
    sim.record(rc.mark_done(sim.state, "status-page", actor="U", note="", ctx=sim.ctx))
    sim.record(rc.mark_done(sim.state, "macro", actor="U", note="", ctx=sim.ctx))
    skipped = [e.payload for e in sim.events if e.kind == "step.skipped"]
    assert [s["step"] for s in skipped] == ["social", "key-accounts"]
    assert skipped[0]["reason"].startswith("condition is false")
    assert sim.state.current is not None and sim.state.current.id == "update"


def test_templates_see_earlier_results() -> None:
    runbook = parse(
        "name: t\ntitle: t\nsteps:\n  - {id: a, title: a, hook: demo.x}\n"
        "  - {id: b, title: 'Status {{ steps.a.result.code }}', when: '{{ steps.a.result.code == 503 }}'}\n"
    )
    sim = Sim(runbook)
    sim.record(hooks.start_hook(sim.state, "a", actor="U", ctx=sim.ctx))
    sim.record(
        hooks.finish_hook(
            sim.state, "a", 1, hooks.HookOutcome(ok=True, result={"code": 503}), ctx=sim.ctx
        )
    )
    assert sim.state.step("b").title == "Status 503"


def test_notes_are_amended_by_new_entries_and_a_full_run_completes() -> None:
    sim = Sim(load("security-incident-intake"), params={"case_id": "SEC-9"})
    for step in ("acknowledge", "preserve"):
        sim.record(rc.mark_done(sim.state, step, actor="U_L", note=f"{step} ok", ctx=sim.ctx))
    sim.record(rc.choose(sim.state, "scope", actor="U_L", label="Legal and HR only", ctx=sim.ctx))
    sim.record(rc.mark_done(sim.state, "record", actor="U_L", note="filed", ctx=sim.ctx))
    assert sim.state.status is RunStatus.COMPLETED
    sim.record(
        rc.amend_note(sim.state, "preserve", actor="U_L", note="hold placed at 10:05", ctx=sim.ctx)
    )
    amended = sim.events[-1]
    assert amended.kind == "note.amended" and amended.payload["was"] == "preserve ok"
    assert sim.state.step("preserve").note == "hold placed at 10:05"


def test_several_missing_params_are_named_together() -> None:
    runbook = parse(
        "name: two\ntitle: Two\nparams:\n"
        "  host: {type: string, required: true}\n"
        "  ticket: {type: string, required: true}\n"
        "steps:\n  - id: a\n    title: A\n"
    )
    with pytest.raises(UserError) as caught:
        Sim(runbook, params={})
    assert str(caught.value) == "two needs host (string), ticket (string); add them as key=value."
