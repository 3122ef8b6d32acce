"""The /runbook grammar."""

from __future__ import annotations

import pytest

from bot.domain.slash import (
    VERBS,
    Abort,
    Diff,
    Help,
    History,
    ListRunbooks,
    Start,
    Status,
    Verify,
    parse,
)
from bot.domain.versions import Ref


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", Help()),
        ("help", Help()),
        ("list", ListRunbooks("")),
        ("list disk full", ListRunbooks("disk full")),
        ("start restart-service", Start(Ref("restart-service"))),
        (
            "start restart-service@3 service=api env=production",
            Start(Ref("restart-service", number=3), {"service": "api", "env": "production"}),
        ),
        (
            'start customer-comms-outage product="Checkout and payments"',
            Start(Ref("customer-comms-outage"), {"product": "Checkout and payments"}),
        ),
        ("status", Status()),
        ("status run-0123abcd", Status("run-0123abcd")),
        ("abort run-0123abcd wrong service, sorry", Abort("run-0123abcd", "wrong service, sorry")),
        ("history restart-service", History("restart-service")),
        (
            "diff restart-service 1 2",
            Diff(
                "restart-service",
                Ref("restart-service", number=1),
                Ref("restart-service", number=2),
            ),
        ),
        ("verify", Verify()),
        ("VERIFY run-0123abcd", Verify("run-0123abcd")),
    ],
)
def test_grammar(text: str, command: object) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("frobnicate", "`frobnicate` is not a /runbook command."),
        ("strat restart-service", "`strat` is not a /runbook command. Did you mean `start`?"),
        ("stats", "`stats` is not a /runbook command. Did you mean `status`?"),
        ("start", "Say which runbook to start: `/runbook start NAME [key=value ...]`."),
        (
            "start restart-service service",
            "`service` is not key=value; write for example `service=api`.",
        ),
        (
            "start Restart_Service",
            "'Restart_Service' is not a runbook name; names are slugs such as restart-service.",
        ),
        ("abort run-0123abcd", "Give the run and a reason: `/runbook abort RUN reason…`."),
        ("diff restart-service 1", "Give a runbook and two versions: `/runbook diff NAME 1 2`."),
        (
            'start x note="unclosed',
            "I could not read that (No closing quotation); check the quotes.",
        ),
    ],
)
def test_unreadable_input_becomes_help_with_the_reason(text: str, problem: str) -> None:
    assert parse(text) == Help(problem)


def test_every_suggested_verb_is_one_the_parser_knows() -> None:
    for verb in VERBS:
        parsed = parse(verb)
        assert not (isinstance(parsed, Help) and "is not a /runbook command" in parsed.problem)
