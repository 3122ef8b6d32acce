"""Broken and hostile runbooks, templates and parameters: the loader and validator only ever
answer with clear problems, the sandbox holds, and parameters cannot reach a shell or another
host's headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2.exceptions import SecurityError, TemplateError

from bot.domain.runbook import RolesFile
from bot.domain.templates import render, render_value
from bot.domain.validation import validate_runbook
from bot.hooks.executor import execute
from tests.conftest import EXAMPLES
from tests.hooks.test_executor import ctx, spec

SOURCES = [
    p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.yml")) if p.name != "roles.yml"
]
ROLES = RolesFile.model_validate(
    {
        "roles": {
            r: {"users": ["U1"]}
            for r in ("incident-commander", "sre-oncall", "dba", "support-lead", "legal")
        }
    }
)
HOOKS = frozenset({"demo.health", "demo.restart", "demo.start", "demo.disk_usage", "command.run"})
FUZZ_CASES = 400


def check_answer(text: str) -> None:
    """Whatever the text, validation returns a model or problems that point into the file."""
    parsed = validate_runbook("fuzz.yml", text, roles=ROLES, known_hooks=HOOKS)
    if parsed.model is None:
        assert parsed.problems, "an invalid file must say why"
    # Lines as YAML counts them (\r\n, \r and \n end one); the end of a file that ends in a
    # line break is on the empty line after it, which the split counts too.
    lines = len(re.split(r"\r\n|\r|\n", text))
    for problem in parsed.problems:
        assert 1 <= problem.line <= lines, problem  # inside the file
        assert problem.column >= 1, problem
        assert problem.message and "Traceback" not in problem.message


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """An example runbook with a few characters or lines deleted, repeated or replaced."""
    text = draw(st.sampled_from(SOURCES))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        span = draw(st.integers(0, 40))
        junk = draw(
            st.sampled_from(
                [
                    "",
                    ":",
                    "- ",
                    "  ",
                    "\t",
                    "{{",
                    "}}",
                    "{% for %}",
                    "&a",
                    "*a",
                    "!!python/object:os.system",
                    "\x00",
                    "é",
                    "\n  - id: x\n",
                    "\r",
                    "\r\n",
                    "'",
                ]
            )
        )
        text = text[:at] + junk + text[at + span :]
    return text


@settings(max_examples=FUZZ_CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fuzzed_runbooks_get_problems_not_tracebacks(text: str) -> None:
    check_answer(text)


@pytest.mark.parametrize(
    "text",
    ["name: x\rtitle: y\rsteps: [\r", "name: x\r\ntitle: [\r\n", "a: [\n", "a: ["],
)
def test_problems_point_into_files_with_any_line_ending(text: str) -> None:
    check_answer(text)  # a problem at the end of a \r file is on its 4th line, not past it


@settings(max_examples=FUZZ_CASES // 2, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_gets_problems_not_tracebacks(text: str) -> None:
    check_answer(text)


def test_yaml_tags_never_construct_objects() -> None:
    text = SOURCES[0].replace(
        "title:", "title: !!python/object/apply:os.system ['touch /tmp/pwned']\nx:", 1
    )
    parsed = validate_runbook("tags.yml", text, roles=ROLES, known_hooks=HOOKS)
    assert parsed.model is None and parsed.problems
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ self._TemplateReference__context }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ range.__class__.__base__.__subclasses__() }}",
        "{{ config }}",
        "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
        "{{ service.__class__.__init__.__globals__ }}",
    ],
)
def test_template_injection_is_refused_by_the_sandbox(template: str) -> None:
    with pytest.raises((SecurityError, TemplateError)):
        render(template, {"service": "api"})


@pytest.mark.parametrize("value", ["{{ 7*7 }}", "{% raw %}x", "{{ ''.__class__ }}"])
def test_parameter_values_are_data_never_templates(value: str) -> None:
    assert render("restart {{ service }}", {"service": value}) == f"restart {value}"
    assert render_value({"argv": ["echo", "{{ service }}"]}, {"service": value}) == {
        "argv": ["echo", value]
    }


@pytest.mark.parametrize(
    "value",
    [
        "api; touch /tmp/pwned-rb",
        "$(touch /tmp/pwned-rb)",
        "`touch /tmp/pwned-rb`",
        "api && id",
        "../../etc/passwd",
        "-rf /",
    ],
)
async def test_shell_and_path_injection_into_command_run_is_inert(value: str) -> None:
    argv = render_value(["printf", "%s", "{{ service }}"], {"service": value})
    outcome = await execute(spec("command.run"), {"argv": argv}, ctx())
    assert outcome.ok, outcome
    assert outcome.result["stdout"] == value  # one argument, as typed, to printf only
    assert not Path("/tmp/pwned-rb").exists()


async def test_header_injection_into_http_request_fails_cleanly() -> None:
    outcome = await execute(
        spec("http.request"),
        {"url": "http://127.0.0.1:9/health", "headers": {"X-Service": "api\r\nX-Evil: 1"}},
        ctx(),
    )
    assert not outcome.ok and outcome.error


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1/", "javascript:alert(1)"]
)
async def test_http_request_only_speaks_http(url: str) -> None:
    outcome = await execute(spec("http.request"), {"url": url}, ctx())
    assert not outcome.ok and "http" in outcome.error.lower()
