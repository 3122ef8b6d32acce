"""Slack's Block Kit and message limits, checked the way Slack checks them: the first breach
gives Slack's error code and a `[ERROR] ... [json-pointer:...]` line like Slack's own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_TEXT = 40_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
BLOCK_TYPES = {"section", "header", "context", "divider", "actions", "input", "image"}
ELEMENT_TYPES = {"button", "static_select", "plain_text_input", "overflow", "datepicker"}


@dataclass(frozen=True)
class Breach:
    error: str  # Slack's error code, e.g. invalid_blocks
    message: str  # what Slack says in response_metadata.messages

    def response(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, "response_metadata": {"messages": [self.message]}}


class _Invalid(Exception):
    def __init__(self, what: str, pointer: str) -> None:
        super().__init__(f"[ERROR] {what} [json-pointer:{pointer}]")


def _text(obj: Any, pointer: str, limit: int, *, plain_only: bool = False) -> None:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        raise _Invalid("must be a text object", pointer)
    if plain_only and obj["type"] != "plain_text":
        raise _Invalid("must be a plain_text object", pointer)
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        raise _Invalid("must be more than 0 characters", f"{pointer}/text")
    if len(text) > limit:
        raise _Invalid(f"must be less than {limit + 1} characters", f"{pointer}/text")


def _at_most(container: dict[str, Any], key: str, limit: int, pointer: str) -> None:
    if len(str(container.get(key, ""))) > limit:
        raise _Invalid(f"must be less than {limit + 1} characters", f"{pointer}/{key}")


def _element(element: Any, pointer: str) -> None:
    if not isinstance(element, dict) or element.get("type") not in ELEMENT_TYPES:
        raise _Invalid("unsupported element type", f"{pointer}/type")
    _at_most(element, "action_id", 255, pointer)
    kind = element["type"]
    if kind == "button":
        _text(element.get("text"), f"{pointer}/text", 75, plain_only=True)
        _at_most(element, "value", 2000, pointer)
        if element.get("style") not in (None, "primary", "danger"):
            raise _Invalid("must be primary or danger", f"{pointer}/style")
    elif kind == "static_select":
        options = element.get("options") or []
        if not 1 <= len(options) <= 100:
            raise _Invalid("must have between 1 and 100 options", f"{pointer}/options")
        for i, option in enumerate(options):
            _text(option.get("text"), f"{pointer}/options/{i}/text", 75, plain_only=True)
            _at_most(option, "value", 150, f"{pointer}/options/{i}")


def _block(block: Any, pointer: str) -> None:
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        raise _Invalid("unsupported block type", f"{pointer}/type")
    _at_most(block, "block_id", 255, pointer)
    kind = block["type"]
    if kind == "section":
        if "text" not in block and "fields" not in block:
            raise _Invalid("must provide text or fields", pointer)
        if "text" in block:
            _text(block["text"], f"{pointer}/text", 3000)
        fields = block.get("fields") or []
        if len(fields) > 10:
            raise _Invalid("must have no more than 10 items", f"{pointer}/fields")
        for i, item in enumerate(fields):
            _text(item, f"{pointer}/fields/{i}", 2000)
        if "accessory" in block:
            _element(block["accessory"], f"{pointer}/accessory")
    elif kind == "header":
        _text(block.get("text"), f"{pointer}/text", 150, plain_only=True)
    elif kind == "context":
        elements = block.get("elements") or []
        if not 1 <= len(elements) <= 10:
            raise _Invalid("must have between 1 and 10 items", f"{pointer}/elements")
        for i, item in enumerate(elements):
            _text(item, f"{pointer}/elements/{i}", 3000)
    elif kind == "actions":
        elements = block.get("elements") or []
        if not 1 <= len(elements) <= 25:
            raise _Invalid("must have between 1 and 25 items", f"{pointer}/elements")
        ids = [e.get("action_id") for e in elements if isinstance(e, dict) and e.get("action_id")]
        if len(ids) != len(set(ids)):
            raise _Invalid("action_id values must be unique in a block", f"{pointer}/elements")
        for i, item in enumerate(elements):
            _element(item, f"{pointer}/elements/{i}")
    elif kind == "input":
        _text(block.get("label"), f"{pointer}/label", 2000, plain_only=True)
        if "hint" in block:
            _text(block["hint"], f"{pointer}/hint", 2000, plain_only=True)
        _element(block.get("element"), f"{pointer}/element")


def _blocks(blocks: Any, limit: int) -> None:
    if not isinstance(blocks, list):
        raise _Invalid("must be an array", "/blocks")
    if len(blocks) > limit:
        raise _Invalid(f"must have no more than {limit} items", "/blocks")
    ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id")]
    if len(ids) != len(set(ids)):
        raise _Invalid("block_id values must be unique", "/blocks")
    for i, block in enumerate(blocks):
        _block(block, f"/blocks/{i}")


def check_message(text: str | None, blocks: Any) -> Breach | None:
    """What chat.postMessage, chat.update and chat.postEphemeral refuse."""
    if not text and not blocks:
        return Breach("no_text", "[ERROR] text or blocks is required")
    if text and len(text) > MAX_TEXT:
        return Breach("msg_too_long", f"[ERROR] must be less than {MAX_TEXT + 1} characters")
    if blocks is None:
        return None
    try:
        _blocks(blocks, MAX_MESSAGE_BLOCKS)
    except _Invalid as exc:
        return Breach("invalid_blocks", str(exc))
    return None


def check_view(view: Any) -> Breach | None:
    """What views.open, views.update and views.publish refuse."""
    try:
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise _Invalid("must be a modal or home view", "/view/type")
        if view["type"] == "modal":
            _text(view.get("title"), "/view/title", 24, plain_only=True)
            for key in ("submit", "close"):
                if key in view:
                    _text(view[key], f"/view/{key}", 24, plain_only=True)
        _at_most(view, "private_metadata", 3000, "/view")
        _at_most(view, "callback_id", 255, "/view")
        _blocks(view.get("blocks", []), MAX_VIEW_BLOCKS)
    except _Invalid as exc:
        return Breach("invalid_arguments", str(exc))
    return None
