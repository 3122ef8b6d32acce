"""Validation messages: the exact place (line:col), a useful hint, every problem at once."""

from __future__ import annotations

import textwrap

import pytest

from bot.domain.run_params import coerce_param
from bot.domain.runbook import Param, ParamType, Role, RolesFile
from bot.domain.validation import validate_runbook

ROLES = RolesFile(roles={"incident-commander": Role(users=["U1"]), "dba": Role(users=["U2"])})


def problems(text: str, **kwargs: object) -> list[str]:
    parsed = validate_runbook("rb.yml", textwrap.dedent(text).lstrip("\n"), roles=ROLES, **kwargs)  # type: ignore[arg-type]
    assert (parsed.model is None) == bool(parsed.problems)
    return [str(p) for p in parsed.problems]


VALID = """
name: restart-service
title: Restart
params:
  service: {type: string, required: true}
steps:
  - id: go
    title: Restart {{ service }}
"""


def test_valid_runbook_has_no_problems() -> None:
    assert problems(VALID) == []


def test_unknown_key_points_at_the_key_and_suggests_the_nearest() -> None:
    assert problems(VALID + "sumary: oops\n") == [
        "rb.yml:8:1: unknown key 'sumary' at the top level (hint: did you mean 'summary'?)"
    ]


def test_unknown_key_in_a_nested_step_names_where_it_is() -> None:
    text = VALID.replace(
        "    title: Restart {{ service }}",
        "    title: Restart {{ service }}\n    gaurd: {approvers: [dba]}",
    )
    assert problems(text) == [
        "rb.yml:8:5: unknown key 'gaurd' in steps[0] (hint: did you mean 'guard'?)"
    ]


def test_all_structural_problems_are_reported_at_once() -> None:
    text = """
    name: Bad_Name
    title: ""
    steps:
      - id: 9lives
        title: x
        guard: {approvers: [dba], quorum: 0}
    """
    found = problems(text)
    assert found == [
        "rb.yml:1:7: name 'Bad_Name' must be a slug: lowercase letters, digits and single hyphens, e.g. restart-service",
        "rb.yml:2:8: title: string should have at least 1 character",
        "rb.yml:4:9: id '9lives' must start with a lowercase letter and use only lowercase letters, digits, - and _",
        "rb.yml:6:39: steps[0].guard.quorum: input should be greater than or equal to 1",
    ]


def test_missing_key_points_at_the_mapping_that_lacks_it() -> None:
    assert problems("name: x\nsteps:\n  - id: a\n") == [
        "rb.yml:1:1: missing required key title at the top level",
        "rb.yml:3:5: missing required key title in steps[0]",
    ]


def test_yaml_syntax_error_has_a_position() -> None:
    [problem] = problems("name: x\nsteps: [\n  - id: a\n")
    assert problem.startswith("rb.yml:3:") and "YAML syntax error" in problem


def test_duplicate_yaml_keys_are_an_error() -> None:
    [problem] = problems(VALID + "title: Again\n")
    assert problem.startswith("rb.yml:8:1: YAML syntax error: found duplicate key")


def test_a_file_that_is_not_a_mapping() -> None:
    assert problems("- just\n- a list\n") == [
        "rb.yml:1:1: expected a mapping of keys, but the file is a list"
    ]
    assert problems("") == ["rb.yml:1:1: expected a mapping of keys, but the file is empty"]


def test_template_with_unknown_param_is_a_validation_error() -> None:
    text = VALID.replace("Restart {{ service }}", "Restart {{ servce }}")
    assert problems(text) == [
        "rb.yml:7:12: template uses unknown name 'servce' (hint: did you mean 'service'?)"
    ]
    text = VALID.replace("Restart {{ service }}", "Restart {{ region }}")  # like nothing declared
    assert problems(text) == [
        "rb.yml:7:12: template uses unknown name 'region' (hint: declare it under params, or use steps.<id> / run.<field>)"
    ]
    text = VALID.replace("Restart {{ service }}", "Restart {{ step.check.ok }}")  # a built-in
    assert problems(text) == [
        "rb.yml:7:12: template uses unknown name 'step' (hint: did you mean 'steps'?)"
    ]


def test_templates_inside_with_are_checked_with_their_position() -> None:
    text = (
        VALID
        + "  - id: hook\n    title: t\n    hook: demo.x\n    with: {args: [ok, '{{ nope }}']}\n"
    )
    assert problems(text) == [
        "rb.yml:11:23: template uses unknown name 'nope' (hint: declare it under params, or use steps.<id> / run.<field>)"
    ]


def test_duplicate_step_ids() -> None:
    text = VALID + "  - id: go\n    title: again\n"
    assert problems(text) == [
        "rb.yml:8:9: duplicate step id 'go' (first used by step 1) (hint: step ids must be unique)"
    ]


DECISION = """
name: triage
title: Triage
steps:
  - id: first
    title: First
  - id: ask
    title: Which way?
    choices:
      - {label: Back, goto: first}
      - {label: Nowhere, goto: nowher}
      - {label: Done, goto: end}
  - id: nowhere
    title: Later
"""


def test_goto_must_point_forward_to_a_known_step() -> None:
    assert problems(DECISION) == [
        "rb.yml:9:29: goto 'first' points back to an earlier step; runs only move forward (hint: choose a later step or 'end')",
        "rb.yml:10:32: goto names unknown step 'nowher' (hint: did you mean 'nowhere'?)",
    ]


def test_guard_naming_an_undefined_role() -> None:
    text = VALID.replace(
        "    title: Restart {{ service }}",
        "    title: Restart {{ service }}\n    guard: {approvers: [incident-comander]}",
    )
    assert problems(text) == [
        "rb.yml:8:25: guard names undefined role 'incident-comander' (hint: did you mean 'incident-commander'?)"
    ]


def test_unregistered_hooks_are_reported_when_the_registry_is_known() -> None:
    text = VALID + "  - id: h\n    title: t\n    hook: http.reqest\n"
    assert problems(text, known_hooks=frozenset({"http.request"})) == [
        "rb.yml:10:11: hook 'http.reqest' is not registered (hint: did you mean 'http.request'?)"
    ]
    assert problems(text) == []  # no registry given: hook names are not checked


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "    with: {a: 1}\n",
            "rb.yml:8:5: 'with' only applies to hook steps (hint: add hook: NAME or remove it)",
        ),
        (
            "    when: env == 'x'\n",
            "rb.yml:8:11: a when condition must be a template, or it is always true (hint: write \"{{ env == 'x' }}\")",
        ),
        (
            "    hook: demo.x\n    choices: [{label: a, goto: end}, {label: b, goto: end}]\n",
            "rb.yml:9:5: a step is a hook or a decision, not both (hint: split it into two steps)",
        ),
        (
            "    choices: [{label: a, goto: end}]\n",
            "rb.yml:8:5: a decision needs at least two choices",
        ),
        (
            "    id: end\n",
            'rb.yml:8:5: YAML syntax error: found duplicate key "id" with value "end" (original value: "go")',
        ),
    ],
)
def test_step_shape_rules(extra: str, expected: str) -> None:
    assert problems(VALID + extra) == [expected]


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        (
            "{type: choice}",
            "rb.yml:4:12: param 'service' is a choice but lists no choices (hint: add choices: [a, b])",
        ),
        (
            "{type: integer, default: many}",
            "rb.yml:4:37: default does not fit the param: service must be a whole number, not 'many'",
        ),
        (
            "{type: string, required: true, default: x}",
            "rb.yml:4:43: param 'service' is required and also has a default (hint: drop one of them)",
        ),
        (
            "{type: string, pattern: '[a-'}",
            "rb.yml:4:36: pattern is not a valid regular expression: unterminated character set at position 0",
        ),
        (
            "{type: string, pattern: '^[a-z--]+$'}",
            "rb.yml:4:36: pattern is ambiguous: possible set difference at position 5, which a future Python will read differently (hint: put a backslash before the doubled character or the inner [)",
        ),
        (
            "{type: strng}",
            "rb.yml:4:19: params.service.type: input should be 'string', 'integer', 'number', 'boolean' or 'choice'",
        ),
    ],
)
def test_param_rules(param: str, expected: str) -> None:
    assert problems(VALID.replace("{type: string, required: true}", param)) == [expected]


def test_an_ambiguous_pattern_is_refused_every_time_not_only_when_first_compiled() -> None:
    text = VALID.replace("{type: string, required: true}", "{type: string, pattern: '[[a]'}")
    first, again = problems(text), problems(text)
    assert first == again
    assert first[0].startswith("rb.yml:4:36: pattern is ambiguous: possible nested set")


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        (ParamType.INTEGER, "42", 42),
        (ParamType.NUMBER, "2.5", 2.5),
        (ParamType.BOOLEAN, "yes", True),
        (ParamType.BOOLEAN, "off", False),
        (ParamType.STRING, "api", "api"),
    ],
)
def test_param_coercion(kind: ParamType, raw: str, value: object) -> None:
    assert coerce_param("p", Param(type=kind), raw) == value


def test_param_coercion_refuses_values_outside_choices_and_patterns() -> None:
    with pytest.raises(ValueError, match="must be one of staging, production"):
        coerce_param("env", Param(type=ParamType.CHOICE, choices=["staging", "production"]), "prod")
    with pytest.raises(ValueError, match="does not match"):
        coerce_param("service", Param(pattern="^[a-z]+$"), "api; rm -rf /")


def test_structural_and_cross_check_problems_come_together() -> None:
    text = """
    name: bad
    title: t
    sumary: x
    params:
      env: {type: choice}
      service: {type: strng}
    steps:
      - id: a
        title: Restart {{ servce }}
      - id: a
        title: b
        guard: {approvers: [dba], quorum: 0}
      - id: c
        title: c
        choices: [{label: x, goto: a}, {label: y, goto: end}]
    """
    assert problems(text) == [
        "rb.yml:3:1: unknown key 'sumary' at the top level (hint: did you mean 'summary'?)",
        "rb.yml:5:8: param 'env' is a choice but lists no choices (hint: add choices: [a, b])",
        "rb.yml:6:19: params.service.type: input should be 'string', 'integer', 'number', 'boolean' or 'choice'",
        "rb.yml:9:12: template uses unknown name 'servce' (hint: did you mean 'service'?)",
        "rb.yml:10:9: duplicate step id 'a' (first used by step 1) (hint: step ids must be unique)",
        "rb.yml:12:39: steps[1].guard.quorum: input should be greater than or equal to 1",
        "rb.yml:15:32: goto 'a' points back to an earlier step; runs only move forward (hint: choose a later step or 'end')",
    ]
