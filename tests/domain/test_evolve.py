"""`evolve` is `dataclasses.replace` for the run-state records, only faster: same results."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.run_state import Approval, RunState, RunStatus, StepState, StepStatus, evolve

STEP = StepState(id="s1", title="One", args={"a": 1})
RUN = RunState("run-1", "rb", 1, "0" * 64, "U1", "C1", {"p": "v"}, (STEP,))
CHANGES = {
    "status": st.sampled_from(list(StepStatus)),
    "title": st.text(max_size=20),
    "note": st.text(max_size=20),
    "attempts": st.integers(0, 9),
    "approvals": st.just((Approval("U2", datetime(2026, 1, 1, tzinfo=UTC), "h", "s"),)),
    "at": st.none() | st.just(datetime(2026, 1, 1, tzinfo=UTC)),
}


@given(st.fixed_dictionaries({}, optional=CHANGES))
def test_a_step_evolves_as_replace_makes_it(changes: dict[str, object]) -> None:
    evolved = evolve(STEP, **changes)
    assert evolved == dataclasses.replace(STEP, **changes)  # type: ignore[arg-type]
    assert type(evolved) is StepState
    assert STEP.title == "One" and STEP.status is StepStatus.PENDING  # the original is untouched


def test_a_run_evolves_and_stays_frozen() -> None:
    ended = evolve(RUN, status=RunStatus.COMPLETED, version=7)
    assert ended == dataclasses.replace(RUN, status=RunStatus.COMPLETED, version=7)
    assert RUN.status is RunStatus.ACTIVE
    with pytest.raises(dataclasses.FrozenInstanceError):
        ended.version = 8  # type: ignore[misc]


def test_a_field_that_does_not_exist_is_refused() -> None:
    with pytest.raises(AssertionError, match="stauts"):
        evolve(STEP, stauts=StepStatus.DONE)
