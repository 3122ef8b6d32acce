"""Stable action ids, and button values as typed metadata that the bot re-checks, never trusts."""

from __future__ import annotations

import json
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import UserError

MAX_VALUE = 2000  # Slack's limit for a button value


class ActionId(StrEnum):
    """Documented and stable: integrators and tests rely on these."""

    STEP_DONE = "runbook.step.done"
    STEP_RUN = "runbook.step.run"
    STEP_SKIP = "runbook.step.skip"
    APPROVE = "runbook.approval.approve"
    DENY = "runbook.approval.deny"
    ABORT = "runbook.run.abort"
    START = "runbook.start"
    CHOOSE = "runbook.step.choose"


class ButtonValue(BaseModel):
    """What a button carries. `v` is the run version the card was drawn at, `sha` the pinned
    version hash and `args` the hash of the arguments shown: a click on a stale or edited card
    is recognised and refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run: str = Field(pattern=r"^run-[0-9a-f]{8}$")
    step: str = Field(default="", max_length=64)
    sha: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    args: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    v: int = Field(default=0, ge=0)
    choice: int | None = Field(default=None, ge=0, le=50)

    def encode(self) -> str:
        text = json.dumps(
            self.model_dump(exclude_defaults=True), separators=(",", ":"), sort_keys=True
        )
        assert len(text) <= MAX_VALUE
        return text


def decode(value: str) -> ButtonValue:
    try:
        return ButtonValue.model_validate_json(value)
    except ValidationError:
        raise UserError(
            "That button's data is not valid; reload the message and try again."
        ) from None


class StartValue(BaseModel):
    """A catalog entry's Start button: the runbook and the version shown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=64)
    number: int = Field(ge=1)

    def encode(self) -> str:
        return json.dumps(self.model_dump(), separators=(",", ":"), sort_keys=True)


def decode_start(value: str) -> StartValue:
    try:
        return StartValue.model_validate_json(value)
    except ValidationError:
        raise UserError(
            "That Start button's data is not valid; reload the catalog and try again."
        ) from None
