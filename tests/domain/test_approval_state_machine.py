"""Random sequences of approve, deny, double approve, waiting past expiry and abort: the policy holds."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from bot.domain import hook_commands as hooks
from bot.domain import run_commands as rc
from bot.domain.run_commands import CommandRefused, Pending
from bot.domain.run_events import RunEvent
from bot.domain.run_state import StepStatus
from tests.domain.run_sim import Sim, parse

EXPIRES = timedelta(minutes=10)
RUNBOOK = parse(
    """
name: guarded
title: Guarded
steps:
  - id: act
    title: Act
    hook: demo.act
    guard: {approvers: [dba], quorum: 2, expires: 10m}
"""
)
# The requester is a DBA too, so only the two-person rule stops them approving.
ROLES = {"U_REQ": {"dba"}, "U_D1": {"dba"}, "U_D2": {"dba"}, "U_D3": {"dba"}, "U_OUT": set()}
people = st.sampled_from(sorted(ROLES))
FINAL = {"run.aborted", "run.completed"}


class ApprovalMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sim = Sim(RUNBOOK, requester="U_REQ")

    def attempt(self, decide: object) -> list[Pending]:
        """Run a command; a refused one (stale, finished run) must record nothing."""
        assert callable(decide)
        try:
            return self.sim.record(decide())
        except CommandRefused:
            return []

    @rule(who=people)
    def approve(self, who: str) -> None:
        before = self.sim.state
        for event in self.attempt(
            lambda: rc.approve(
                before, "act", actor=who, actor_roles=ROLES[who], seen=None, ctx=self.sim.ctx
            )
        ):
            if event.kind is RunEvent.APPROVAL_GRANTED:
                assert before.step("act").status is StepStatus.AWAITING_APPROVAL
                assert who not in {
                    a.actor for a in before.step("act").approvals if self.sim.now - a.at < EXPIRES
                }

    @rule(who=people)
    def deny(self, who: str) -> None:
        self.attempt(
            lambda: rc.deny(
                self.sim.state,
                "act",
                actor=who,
                actor_roles=ROLES[who],
                reason="no",
                ctx=self.sim.ctx,
            )
        )

    @rule(minutes=st.integers(1, 12))
    def wait(self, minutes: int) -> None:
        self.sim.wait(minutes=minutes)

    @rule()
    def ask_again(self) -> None:
        self.attempt(
            lambda: rc.request_again(self.sim.state, "act", actor="U_REQ", ctx=self.sim.ctx)
        )

    @rule()
    def run_the_hook(self) -> None:
        state = self.sim.state
        started = self.attempt(
            lambda: hooks.start_hook(state, "act", actor="U_REQ", ctx=self.sim.ctx)
        )
        if not started:
            return
        live = {a.actor for a in state.step("act").approvals if self.sim.now - a.at < EXPIRES}
        assert len(live) >= 2, "a hook ran without a quorum of live approvals"
        attempt = started[0].payload["attempt"]
        self.sim.record(
            hooks.finish_hook(
                self.sim.state, "act", attempt, hooks.HookOutcome(ok=True), ctx=self.sim.ctx
            )
        )

    @rule()
    def abort(self) -> None:
        self.attempt(
            lambda: rc.abort(self.sim.state, actor="U_D1", reason="stop", ctx=self.sim.ctx)
        )

    @invariant()
    def requester_and_outsiders_never_count(self) -> None:
        assert {a.actor for a in self.sim.state.step("act").approvals}.isdisjoint(
            {"U_REQ", "U_OUT"}
        )

    @invariant()
    def nothing_is_recorded_after_the_run_ends(self) -> None:
        kinds = self.sim.kinds()
        ends = [i for i, k in enumerate(kinds) if k in FINAL]
        assert len(ends) <= 1 and (not ends or ends[0] == len(kinds) - 1)

    @invariant()
    def a_denied_step_never_runs(self) -> None:
        kinds = self.sim.kinds()
        if "approval.denied" in kinds:
            assert "hook.started" not in kinds[kinds.index("approval.denied") :]


TestApprovalMachine = ApprovalMachine.TestCase
TestApprovalMachine.settings = settings(max_examples=200, stateful_step_count=25, deadline=None)
