"""The `/runbook` grammar, parsed into typed commands. Pure; the Slack layer only dispatches.

list [query] | start REF [key=value ...] | status [RUN] | abort RUN reason…
history NAME | diff NAME A B | verify [RUN] | help
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass, field

from bot.domain.versions import Ref, parse_ref, parse_selector
from bot.errors import UserError

USAGE = """*Usage:* `/runbook COMMAND`
• `list [query]`: the runbooks you can start
• `start NAME [key=value ...]`: start a run (`NAME@3` or `NAME@sha256:abcd1234` pins a version)
• `status [RUN]`: the active runs here, or one run
• `abort RUN reason…`: stop a run, saying why
• `history NAME`: the published versions of a runbook
• `diff NAME A B`: what changed between two versions
• `verify [RUN]`: re-check the ledger (and one run's entries)"""


@dataclass(frozen=True)
class Help:
    problem: str = ""  # why help is shown, when it is an error


@dataclass(frozen=True)
class ListRunbooks:
    query: str = ""


@dataclass(frozen=True)
class Start:
    ref: Ref
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Status:
    run_id: str | None = None


@dataclass(frozen=True)
class Abort:
    run_id: str
    reason: str


@dataclass(frozen=True)
class History:
    name: str


@dataclass(frozen=True)
class Diff:
    name: str
    a: Ref
    b: Ref


@dataclass(frozen=True)
class Verify:
    run_id: str | None = None


SlashCommand = Help | ListRunbooks | Start | Status | Abort | History | Diff | Verify
VERBS = ("help", "list", "start", "status", "abort", "history", "diff", "verify")


def parse(text: str) -> SlashCommand:
    """Never raises: anything it cannot read becomes Help with the reason, shown ephemerally."""
    try:
        return _parse(text)
    except UserError as exc:
        return Help(str(exc))


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UserError(f"I could not read that ({exc}); check the quotes.") from None


def _parse(text: str) -> SlashCommand:
    words = _words(text.strip())
    if not words or words[0].lower() == "help":
        return Help()
    verb, rest = words[0].lower(), words[1:]
    if verb == "list":
        return ListRunbooks(" ".join(rest))
    if verb == "start":
        if not rest:
            raise UserError("Say which runbook to start: `/runbook start NAME [key=value ...]`.")
        return Start(parse_ref(rest[0]), _params(rest[1:]))
    if verb == "status":
        return Status(rest[0] if rest else None)
    if verb == "abort":
        if len(rest) < 2:
            raise UserError("Give the run and a reason: `/runbook abort RUN reason…`.")
        return Abort(rest[0], " ".join(rest[1:]))
    if verb == "history":
        if len(rest) != 1:
            raise UserError("Name one runbook: `/runbook history NAME`.")
        return History(parse_ref(rest[0]).name)
    if verb == "diff":
        if len(rest) != 3:
            raise UserError("Give a runbook and two versions: `/runbook diff NAME 1 2`.")
        name = parse_ref(rest[0]).name
        return Diff(name, parse_selector(name, rest[1]), parse_selector(name, rest[2]))
    if verb == "verify":
        return Verify(rest[0] if rest else None)
    close = difflib.get_close_matches(verb, VERBS, n=1)
    suggestion = f" Did you mean `{close[0]}`?" if close else ""
    raise UserError(f"`{verb}` is not a /runbook command.{suggestion}")


def _params(words: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise UserError(f"`{word}` is not key=value; write for example `service=api`.")
        params[key] = value
    return params
