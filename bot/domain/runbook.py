"""The runbook format: what a YAML file in runbooks/ may say, as pydantic models.

Structure and types live here; cross-field rules that need positions (duplicate ids,
forward-only gotos, template names, roles) live in `validation.py`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from bot.domain.durations import DURATION_PATTERN, parse_duration

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
STEP_ID_PATTERN = r"^[a-z][a-z0-9_-]*$"
PARAM_NAME_PATTERN = r"^[a-z_][a-z0-9_]*$"
HOOK_NAME_PATTERN = r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$"
END = "end"  # the goto target that finishes a run

Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "description": "seconds"},
                {"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "15m", "1h"]},
            ]
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ParamType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    CHOICE = "choice"


class Param(_Strict):
    """One input a runbook asks for when it starts."""

    type: ParamType = ParamType.STRING
    required: bool = False
    default: str | int | float | bool | None = None
    pattern: str | None = Field(default=None, description="Regular expression; strings only.")
    choices: list[str] | None = Field(default=None, description="Allowed values; choice only.")
    description: str = ""
    secret: bool = Field(
        default=False, description="Never shown in Slack nor stored in clear in the ledger."
    )


class Guard(_Strict):
    """An approval gate: who may approve, how many, and for how long an approval holds."""

    approvers: list[str] = Field(min_length=1, description="Role names from roles.yml.")
    quorum: int = Field(default=1, ge=1, description="Distinct approvers needed.")
    allow_requester: bool = Field(
        default=False, description="Whether the person who started the run may approve."
    )
    expires: Duration = Field(default=900, description="How long an approval counts.")


class HookCall(_Strict):
    """A hook with its arguments, as used by a step's rollback."""

    hook: str = Field(pattern=HOOK_NAME_PATTERN)
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    timeout: Duration | None = None


class Choice(_Strict):
    """One answer to a decision step, and the later step where the run continues."""

    label: str = Field(min_length=1, max_length=75)
    goto: str = Field(description=f"A later step id, or {END!r} to finish the run.")


class StepKind(StrEnum):
    CHECKLIST = "checklist"
    HOOK = "hook"
    DECISION = "decision"


class Step(_Strict):
    """One card in the run: a checklist item, an automation hook, or a decision."""

    id: str = Field(pattern=STEP_ID_PATTERN, max_length=64)
    title: str = Field(min_length=1, max_length=150)
    text: str = ""
    hook: str | None = Field(default=None, pattern=HOOK_NAME_PATTERN)
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    timeout: Duration | None = None
    choices: list[Choice] | None = None
    when: str | None = Field(
        default=None, description="A condition such as \"{{ env == 'production' }}\"."
    )
    guard: Guard | None = None
    rollback: HookCall | None = None
    idempotent: bool = Field(
        default=False, description="Safe to retry with the same idempotency key after a crash."
    )

    @property
    def kind(self) -> StepKind:
        if self.hook is not None:
            return StepKind.HOOK
        if self.choices is not None:
            return StepKind.DECISION
        return StepKind.CHECKLIST


class Runbook(_Strict):
    """A whole runbook file."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        frozen=True,
        title="runbook-bot runbook",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    name: str = Field(pattern=SLUG_PATTERN, max_length=64)
    title: str = Field(min_length=1, max_length=150)
    summary: str = ""
    owner: str = ""
    tags: list[str] = Field(default_factory=list)
    params: dict[str, Param] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


class Role(_Strict):
    """A role maps to Slack user ids and Slack user-group ids."""

    description: str = ""
    users: list[Annotated[str, Field(pattern=r"^\S+$")]] = Field(default_factory=list)
    groups: list[Annotated[str, Field(pattern=r"^\S+$")]] = Field(default_factory=list)


class RolesFile(_Strict):
    """runbooks/roles.yml."""

    roles: dict[str, Role] = Field(default_factory=dict)
