import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from bot.domain.templates import check_template, evaluate_condition, render, render_value


def test_renders_params() -> None:
    assert render("Restart {{ service }}", {"service": "api"}) == "Restart api"


def test_unknown_name_fails_at_render_time_too() -> None:
    with pytest.raises(UndefinedError):
        render("{{ nope }}", {})


def test_static_check_names_unknown_params_but_allows_builtins() -> None:
    problems = check_template(
        "{{ service }} {{ steps.check.result }} {{ run.requester }} {{ envv }}",
        frozenset({"service"}),
    )
    assert [p.message for p in problems] == ["template uses unknown name 'envv'"]


def test_static_check_reports_syntax_errors() -> None:
    [problem] = check_template("{{ service ", frozenset({"service"}))
    assert problem.message.startswith("template syntax error")


def test_sandbox_blocks_attribute_escapes() -> None:
    with pytest.raises(SecurityError):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_sandbox_blocks_mutation() -> None:
    with pytest.raises(SecurityError):
        render("{{ items.append(1) }}", {"items": []})


def test_no_html_escaping_in_text() -> None:
    assert render("{{ x }}", {"x": "it's <b> & co"}) == "it's <b> & co"


def test_render_value_walks_nested_arguments() -> None:
    value = {"argv": ["echo", "{{ a }}"], "n": 3, "env": {"K": "{{ a }}"}}
    assert render_value(value, {"a": "x"}) == {"argv": ["echo", "x"], "n": 3, "env": {"K": "x"}}


@pytest.mark.parametrize(("env", "expected"), [("production", True), ("staging", False)])
def test_conditions(env: str, expected: bool) -> None:
    assert evaluate_condition("{{ env == 'production' }}", {"env": env}) is expected
