"""The fast payload decoding gives bolt's own request, or steps aside for bolt."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body

from bot.emulator.server import interactive_body, running_emulator
from bot.emulator.workspace import Workspace
from bot.slack.form_body import FORM, bolt_request, decode_payload

HEADERS: dict[str, str | Sequence[str]] = {
    "content-type": FORM,
    "x-slack-signature": "v0=abc",
    "x-slack-request-timestamp": "1",
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
payloads = st.dictionaries(st.text(), json_values, max_size=6) | st.fixed_dictionaries(
    {
        "type": st.just("block_actions"),
        "team": st.fixed_dictionaries({"id": st.text(min_size=1)}),
        "user": st.fixed_dictionaries({"id": st.text(min_size=1)}),
        "channel": st.fixed_dictionaries({"id": st.text(min_size=1)}),
        "actions": st.lists(st.fixed_dictionaries({"action_id": st.text()}), max_size=2),
    }
)


def same_request(ours: AsyncBoltRequest, bolts: AsyncBoltRequest) -> None:
    assert ours.raw_body == bolts.raw_body
    assert ours.body == bolts.body
    assert dict(ours.context) == dict(bolts.context)
    assert ours.headers == bolts.headers and ours.content_type == bolts.content_type


@settings(max_examples=300)
@given(payloads, st.booleans())
def test_an_encoded_payload_decodes_as_bolt_decodes_it(payload: dict[str, Any], plus: bool) -> None:
    form = {"payload": json.dumps(payload, ensure_ascii=False)}
    body = urlencode(form) if plus else urlencode(form, quote_via=quote)  # '+' or %20 for spaces
    assert decode_payload(body) == parse_body(body, FORM)
    same_request(
        bolt_request(body, FORM, "", HEADERS), AsyncBoltRequest(body=body, headers=HEADERS)
    )


@settings(max_examples=500)
@given(st.text(alphabet='payload=%+&\\{}[]":,0123456789ABCDEFabcdefxyz é\u2603', max_size=40))
def test_any_other_body_is_left_to_bolt_or_decoded_the_same(tail: str) -> None:
    for body in (tail, "payload=" + tail, 'payload={"a":"' + tail + '"}'):
        ours = decode_payload(body)
        if ours is not None:  # when the shortcut answers, it answers as bolt would
            assert ours == parse_body(body, FORM)


def test_what_the_shortcut_refuses() -> None:
    good = urlencode({"payload": json.dumps({"a": "b c"})})
    assert decode_payload(good) == {"a": "b c"}
    assert decode_payload(good + "&token=x") is None  # another field: bolt's parse_qsl
    assert decode_payload(good.replace("%22b", "%E9b")) is None  # invalid UTF-8
    assert decode_payload(good.replace("%22b", "%2")) is None  # a broken escape
    assert decode_payload(urlencode({"payload": "[1]"})) is None  # not an object
    assert decode_payload("command=%2Frunbook&text=status") is None  # a slash command
    # A JSON body, or a form body sent as JSON, is bolt's to parse.
    request = bolt_request(good, "application/json", "", HEADERS)
    assert request.raw_body == good


async def test_a_real_click_takes_the_fast_path() -> None:
    async with running_emulator(Workspace.demo()) as emulator:
        card = emulator.workspace.post(
            "C0INCIDENT",
            "UBOT00001",
            "Step 1 — «check» ✓",
            [
                {"type": "section", "text": {"type": "mrkdwn", "text": "Restart *api* — ✓ & done"}},
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Done"},
                            "action_id": "runbook.step.done",
                            "value": json.dumps({"run": "r-1", "step": "check"}),
                        }
                    ],
                },
            ],
        )
        payload = emulator.action_payload("U0SRE0001", "C0INCIDENT", card.ts, "runbook.step.done")
        body = interactive_body(payload)
        assert decode_payload(body) == payload
        headers: dict[str, str | Sequence[str]] = dict(emulator.signed_headers(body, FORM))
        same_request(
            bolt_request(body, FORM, "", headers), AsyncBoltRequest(body=body, headers=headers)
        )
