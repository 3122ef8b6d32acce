"""Parse arguments, build settings once, run one async command, turn errors into exit codes."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TextIO, cast

from pydantic import ValidationError

from bot import event_loop, logs
from bot.config import Settings
from bot.errors import UserError, report_unexpected

Command = Callable[[argparse.Namespace, Settings, TextIO], Coroutine[None, None, int]]
# The modules that hold the commands, imported only when one of their commands runs.
CATALOG = "bot.cli.catalog_commands"
DRILL = "bot.cli.drill"
LEDGER = "bot.cli.ledger_commands"
SERVE = "bot.cli.serve"
logger = logging.getLogger("runbook-bot")

REF_HELP = "NAME (its default version), NAME@3, or NAME@sha256:PREFIX (8+ hex digits)"


def add_global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "--db", metavar="URL", default=default, help="database URL (overrides RUNBOOK_DB_URL)"
    )
    parser.add_argument(
        "--runbooks-dir",
        metavar="DIR",
        default=default,
        help="runbooks directory (overrides RUNBOOKS_DIR)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runbook-bot",
        description="Pinned, immutable incident runbooks for Slack, with a hash-chained ledger.",
        epilog="Settings come from the environment or .env: RUNBOOKS_DIR, RUNBOOK_DB_URL, SLACK_BOT_TOKEN, ...",
    )
    add_global_options(parser, default=None)
    # The same options after the command too (`runbook-bot validate --runbooks-dir DIR`); there
    # they set nothing unless given, so one given before the command stands.
    anywhere = argparse.ArgumentParser(add_help=False)
    add_global_options(anywhere, default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str,
        handler: str,
        help_text: str,
        parent: argparse._SubParsersAction[argparse.ArgumentParser] = sub,
    ) -> argparse.ArgumentParser:
        command = parent.add_parser(name, help=help_text, description=help_text, parents=[anywhere])
        command.set_defaults(handler=handler)
        return command

    p = add("serve", f"{SERVE}:serve", "run the bot; with no Slack credentials, the local console")
    p.add_argument("--port", type=int, default=3000, help="port to listen on (default 3000)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")

    p = add(
        "validate",
        f"{CATALOG}:validate",
        "check runbook files; errors as path:line:col: message",
    )
    p.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or directories (default: RUNBOOKS_DIR)"
    )

    p = add("publish", f"{CATALOG}:publish", "turn the runbooks directory into immutable versions")
    p.add_argument("-m", "--message", default="", help="why this was published")
    p.add_argument(
        "--as", dest="actor", metavar="USER", help="author (default: RUNBOOK_AUTHOR or your login)"
    )

    p = add(
        "versions",
        f"{CATALOG}:versions",
        "list the published versions of a runbook (of every runbook, without NAME)",
    )
    p.add_argument("name", metavar="NAME", nargs="?", help="a runbook (default: all of them)")

    p = add("show", f"{CATALOG}:show", "print the published source of a version")
    p.add_argument("ref", metavar="REF", help=REF_HELP)

    p = add("diff", f"{CATALOG}:diff", "unified diff of two published versions")
    p.add_argument("name", metavar="NAME")
    p.add_argument("a", metavar="A", help="a version: 3, @3 or sha256:PREFIX")
    p.add_argument("b", metavar="B", help="another version")

    p = add(
        "promote",
        f"{CATALOG}:promote",
        "make a version the default (roll back by promoting an older one)",
    )
    p.add_argument("ref", metavar="REF", help=REF_HELP)
    p.add_argument(
        "--as",
        dest="actor",
        metavar="USER",
        help="who promotes (default: RUNBOOK_AUTHOR or your login)",
    )

    add("schema", f"{CATALOG}:schema", "print the JSON Schema of the runbook format")

    p = add(
        "run",
        f"{DRILL}:drill",
        "run a runbook in the terminal (a drill): same engine and ledger, no Slack",
    )
    p.add_argument("ref", metavar="REF", nargs="?", help=REF_HELP)
    p.add_argument("params", nargs="*", metavar="key=value", help="the runbook's params")
    p.add_argument(
        "--as",
        dest="actor",
        metavar="USER",
        help="who runs it (default: RUNBOOK_AUTHOR or your login)",
    )
    p.add_argument(
        "--resume", metavar="RUN_ID", help="continue an active run instead of starting one"
    )

    p = add("runs", f"{DRILL}:runs", "list the active runs (every run with --all)")
    p.add_argument("--all", action="store_true", help="ended runs too, oldest first")

    ledger = sub.add_parser(
        "ledger",
        help="verify, export and checkpoint the ledger",
        description="The hash-chained ledger.",
    )
    ledger_sub = ledger.add_subparsers(
        dest="ledger_command", metavar="LEDGER_COMMAND", required=True
    )
    p = add(
        "verify",
        f"{LEDGER}:verify",
        "re-hash the whole chain; exit 1 naming the first bad entry",
        ledger_sub,
    )
    p.add_argument(
        "--from-checkpoint",
        metavar="FILE",
        help="also check the ledger still extends this checkpoint",
    )
    p = add("export", f"{LEDGER}:export", "print the transcript with hashes", ledger_sub)
    p.add_argument("--run", metavar="ID", help="only the entries of this run")
    p.add_argument(
        "--format",
        choices=["jsonl", "md"],
        default="jsonl",
        help="jsonl (default: every field, for verifiers) or md (a readable transcript that "
        "opens with whether the chain verified)",
    )
    p = add(
        "checkpoint",
        f"{LEDGER}:checkpoint",
        "record and print a checkpoint (signed when a key is set)",
        ledger_sub,
    )
    p.add_argument("--as", dest="actor", metavar="USER", help="who takes the checkpoint")
    add(
        "keygen",
        f"{LEDGER}:keygen",
        "print a new Ed25519 key for signing checkpoints",
        ledger_sub,
    )
    return parser


def resolve(handler: str) -> Command:
    """`module:function` to the command's function. Each command's module is imported only
    when that command runs, so `validate` or `ledger verify` does not load the Slack app and
    the web server first (about half a second)."""
    module, _, function = handler.partition(":")
    return cast(Command, getattr(importlib.import_module(module), function))


def load_settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if args.db:
        overrides["runbook_db_url"] = args.db
    if args.runbooks_dir:
        overrides["runbooks_dir"] = Path(args.runbooks_dir)
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise UserError(f"The settings are invalid: {problems}.") from None


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(json_lines=args.command == "serve")  # serve logs JSON lines; commands, text
    stream = out or sys.stdout
    try:
        settings = load_settings(args)
        return event_loop.run(resolve(args.handler)(args, settings, stream))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader (e.g. `| head`) went away; that is not our failure
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:
        error_id = report_unexpected(logger, exc, context=f"running {args.command}")
        print(
            f"error: something unexpected went wrong (id {error_id}); the log has the details.",
            file=sys.stderr,
        )
        return 70
