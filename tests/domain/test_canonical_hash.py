"""Formatting-only edits keep a runbook's hash; any meaningful edit changes it."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from bot.domain.canonical import canonical_json
from bot.domain.runbook import Runbook
from bot.domain.validation import validate_runbook
from bot.domain.versions import content_hash

BASE = """\
name: restart-service
title: Restart a stuck service
summary: Restart one service.
owner: "@sre"
tags: [sre]
params:
  service: {type: string, required: true, pattern: "^[a-z-]+$"}
  env: {type: choice, choices: [staging, production], default: staging}
steps:
  - id: check
    title: Check {{ service }}
    hook: demo.health
    with: {service: "{{ service }}"}
    timeout: 10s
  - id: restart
    title: Restart {{ service }}
    hook: demo.restart
    with: {service: "{{ service }}"}
    guard: {approvers: [ic], quorum: 1, expires: 15m}
    rollback: {hook: demo.start, with: {service: "{{ service }}"}}
"""

REFORMATTED = """\
# A comment, different key order, block style, other quoting, explicit defaults.
steps:
- title: 'Check {{ service }}'
  id: check
  timeout: 10           # seconds, the same as 10s
  with:
    service: '{{ service }}'
  hook: demo.health
  idempotent: false
- id: restart
  hook: demo.restart
  title: Restart {{ service }}
  with: {service: "{{ service }}"}
  guard:
    expires: 900
    approvers:
    - ic
    allow_requester: false
  rollback:
    with: {service: "{{ service }}"}
    hook: demo.start
params:
  env:
    default: staging
    choices: [staging, production]
    type: choice
  service:
    required: yes
    pattern: ^[a-z-]+$
title: "Restart a stuck service"
owner: '@sre'
summary: >-
  Restart one service.
tags:
  - sre
name: restart-service
"""


def hash_of(text: str) -> str:
    parsed = validate_runbook("x.yml", text)
    assert parsed.model is not None, parsed.problems
    return content_hash(parsed.model)


def test_formatting_only_edits_keep_the_hash() -> None:
    assert hash_of(BASE) == hash_of(REFORMATTED)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("title: Restart a stuck service", "title: Restart a stuck service!"),
        ("summary: Restart one service.", "summary: Restart one service"),
        ('owner: "@sre"', 'owner: "@dba"'),
        ("tags: [sre]", "tags: [sre, api]"),
        ("required: true,", "required: false,"),
        ('pattern: "^[a-z-]+$"', 'pattern: "^[a-z]+$"'),
        ("default: staging", "default: production"),
        ("timeout: 10s", "timeout: 11s"),
        ("hook: demo.health", "hook: demo.healthz"),
        ("quorum: 1", "quorum: 2"),
        ("expires: 15m", "expires: 16m"),
        ("approvers: [ic]", "approvers: [ic, dba]"),
        ("rollback: {hook: demo.start,", "rollback: {hook: demo.begin,"),
        ("  - id: check", "  - id: checks"),
        (
            'with: {service: "{{ service }}"}\n    timeout',
            'with: {service: "{{ service }}", dry: true}\n    timeout',
        ),
    ],
)
def test_each_meaningful_change_alters_the_hash(old: str, new: str) -> None:
    assert old in BASE
    assert hash_of(BASE.replace(old, new, 1)) != hash_of(BASE)


def test_step_order_is_meaningful() -> None:
    runbook = Runbook.model_validate(_data())
    swapped = _data()
    swapped["steps"].reverse()
    assert content_hash(Runbook.model_validate(swapped)) != content_hash(runbook)


def _data() -> dict[str, Any]:
    parsed = validate_runbook("x.yml", BASE)
    assert parsed.tree is not None
    data: dict[str, Any] = copy.deepcopy(parsed.tree.data)
    return data


def _dump(data: Any, *, flow: bool, indent: int) -> str:
    yaml = YAML()
    yaml.default_flow_style = flow
    if flow:  # ruamel writes some plain scalars (a lone "?") that flow style cannot hold; quote all
        yaml.default_style = '"'  # type: ignore[assignment]

    yaml.indent(mapping=indent, sequence=indent + 2, offset=indent)
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30
)


@settings(max_examples=60, deadline=None)
@given(
    title=texts,
    summary=texts,
    tags=st.lists(texts, max_size=3),
    indent=st.integers(2, 4),
    flow=st.booleans(),
)
def test_hash_depends_on_content_not_layout(
    title: str, summary: str, tags: list[str], indent: int, flow: bool
) -> None:
    data = _data()
    data.update(title=title.strip() or "t", summary=summary, tags=tags)
    reference = hash_of(_dump(data, flow=False, indent=2))
    reordered = dict(reversed(list(data.items())))
    assert hash_of(_dump(reordered, flow=flow, indent=indent)) == reference
    changed = dict(data, summary=summary + ".")
    assert hash_of(_dump(changed, flow=flow, indent=indent)) != reference


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_canonical_json_is_the_documented_json_dumps_encoding(value: Any) -> None:
    """The shared encoder gives exactly the bytes docs/ledger.md states, for any JSON value."""
    expected = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    assert canonical_json(value) == expected
    for bad in (float("nan"), float("inf")):  # not JSON: refused, as json.dumps refuses it
        with pytest.raises(ValueError):
            canonical_json({"x": bad})
