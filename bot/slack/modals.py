"""Modals: a reason for skip/deny/abort, and the params a run needs. Pure builders and parsers."""

from __future__ import annotations

import json
from typing import Any

from bot.domain.run_params import coerce_param
from bot.domain.runbook import Param, ParamType, Runbook
from bot.slack.text import truncate

REASON = "runbook.reason"
PARAMS = "runbook.params"
VERBS = {
    "runbook.step.skip": "Skip step",
    "runbook.approval.deny": "Deny approval",
    "runbook.run.abort": "Abort run",
}


def reason_modal(action_id: str, value: str, channel: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": REASON,
        "private_metadata": json.dumps({"action": action_id, "value": value, "channel": channel}),
        "title": {"type": "plain_text", "text": VERBS.get(action_id, "Reason")},
        "submit": {"type": "plain_text", "text": "Submit"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why? (recorded in the ledger)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "multiline": True,
                    "max_length": 1000,
                },
            }
        ],
    }


def _input(name: str, param: Param, given: str | None) -> dict[str, Any]:
    label = {
        "type": "plain_text",
        "text": truncate(name + (" (secret)" if param.secret else ""), 2000),
    }
    initial = (
        given
        if given is not None
        else (
            None
            if param.default is None
            else str(param.default).lower()
            if isinstance(param.default, bool)
            else str(param.default)
        )
    )
    if param.type in (ParamType.CHOICE, ParamType.BOOLEAN):
        options = param.choices if param.type is ParamType.CHOICE else ["true", "false"]
        element: dict[str, Any] = {
            "type": "static_select",
            "action_id": "value",
            "options": [
                {"text": {"type": "plain_text", "text": o}, "value": o} for o in options or []
            ],
        }
        if initial in (options or []):
            element["initial_option"] = {
                "text": {"type": "plain_text", "text": initial},
                "value": initial,
            }
    else:
        element = {"type": "plain_text_input", "action_id": "value"}
        if initial:
            element["initial_value"] = initial
    block: dict[str, Any] = {
        "type": "input",
        "block_id": f"param:{name}",
        "label": label,
        "element": element,
        "optional": not param.required,
    }
    if param.description:
        block["hint"] = {"type": "plain_text", "text": truncate(param.description, 2000)}
    return block


def params_modal(runbook: Runbook, ref: str, channel: str, given: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": PARAMS,
        "private_metadata": json.dumps({"ref": ref, "channel": channel}),
        "title": {"type": "plain_text", "text": "Start runbook"},
        "submit": {"type": "plain_text", "text": "Start"},
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{truncate(runbook.title, 2900)}*\n`{ref}`"},
            },
            *(
                _input(name, param, given.get(name))
                for name, param in list(runbook.params.items())[:90]
            ),
        ],
    }


def submitted_params(
    runbook: Runbook, values: dict[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    """(params, errors by block_id) from a params modal's state."""
    params: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, param in runbook.params.items():
        element = values.get(f"param:{name}", {}).get("value", {})
        raw = (
            element.get("value")
            if "value" in element
            else (element.get("selected_option") or {}).get("value")
        )
        if raw in (None, ""):
            continue
        try:
            coerce_param(name, param, raw)
        except ValueError as exc:
            errors[f"param:{name}"] = str(exc)
        params[name] = str(raw)
    return params, errors
