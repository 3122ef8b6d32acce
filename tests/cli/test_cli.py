"""The command line as users type it: exit codes, messages, and documentation that keeps up."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot import event_loop
from bot.cli.main import build_parser, resolve
from bot.ledger.sqlite_store import SqliteStore
from tests.conftest import REPO, CliRunner


def test_validate_ok_and_errors_in_compiler_format(cli: CliRunner, runbooks_dir: Path) -> None:
    ok = cli("validate")
    assert ok.code == 0 and ok.out.startswith("ok: 5 runbook(s) valid")
    broken = runbooks_dir / "broken.yml"
    broken.write_text(
        "name: broken\ntitle: Broken\nsteps:\n  - id: a\n    titel: A\n", encoding="utf-8"
    )
    bad = cli("validate")
    assert bad.code == 1
    assert bad.out.splitlines() == [
        "runbooks/broken.yml:4:5: missing required key title in steps[0]",
        "runbooks/broken.yml:5:5: unknown key 'titel' in steps[0] (hint: did you mean 'title'?)",
        "2 problem(s) in 6 file(s).",
    ]
    one = cli("validate", str(runbooks_dir / "restart-service.yml"))
    assert one.code == 0 and "(restart-service)" in one.out


def test_publish_refuses_everything_while_any_file_is_invalid(
    cli: CliRunner, runbooks_dir: Path
) -> None:
    (runbooks_dir / "broken.yml").write_text("name: [\n", encoding="utf-8")
    result = cli("publish")
    assert (
        result.code == 1
        and result.out.splitlines()[-1]
        == "Nothing was published; fix the problems above and publish again."
    )
    assert cli("versions", "restart-service").code == 1


def test_publish_prints_name_number_and_hash_and_is_idempotent(cli: CliRunner) -> None:
    first = cli("publish", "-m", "first")
    assert first.code == 0
    lines = first.out.splitlines()
    assert len(lines) == 5 and all(line.endswith("(new)") for line in lines)
    assert (
        lines[3].startswith("restart-service@1 sha256:")
        and len(lines[3].split()[1]) == len("sha256:") + 64
    )
    again = cli("publish")
    assert again.out.replace("(unchanged)", "(new)") == first.out


def test_versions_show_diff_promote(cli: CliRunner, runbooks_dir: Path) -> None:
    cli("publish", "-m", "first", "--as", "alice")
    path = runbooks_dir / "restart-service.yml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("expires: 15m", "expires: 5m"), encoding="utf-8"
    )
    cli("publish", "-m", "shorter expiry")
    listing = cli("versions", "restart-service").out.splitlines()
    assert listing[0].split() == ["version", "sha256", "published", "(UTC)", "by", "message"]
    assert listing[1].startswith("  @1") and listing[1].split()[-2:] == ["alice", "first"]
    assert (
        listing[2].startswith("* @2") and "tester" in listing[2] and "shorter expiry" in listing[2]
    )
    assert listing[-1] == "* default: restart-service@2"
    assert "expires: 15m" in cli("show", "restart-service@1").out
    assert "expires: 5m" in cli("show", "restart-service").out
    diff = cli("diff", "restart-service", "1", "2").out
    assert "-      expires: 15m\n+      expires: 5m\n" in diff
    promoted = cli("promote", "restart-service@1")
    assert promoted.code == 0 and "is now the default (was restart-service@2)." in promoted.out
    assert "expires: 15m" in cli("show", "restart-service").out


def test_versions_without_a_name_lists_every_runbook(cli: CliRunner, runbooks_dir: Path) -> None:
    assert cli("publish").code == 0
    assert cli("versions").err.strip() == ""
    path = runbooks_dir / "restart-service.yml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("expires: 15m", "expires: 5m"), encoding="utf-8"
    )
    cli("publish", "--as", "alice")
    cli("promote", "restart-service@1")
    lines = cli("versions").out.splitlines()
    assert lines[0].split() == ["runbook", "default", "latest", "published", "(UTC)", "by"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert sorted(rows) == [
        "customer-comms-outage",
        "database-failover",
        "disk-full-triage",
        "restart-service",
        "security-incident-intake",
    ]
    assert rows["restart-service"][1:3] == ["@1", "@2"] and rows["restart-service"][-1] == "alice"
    assert (
        rows["disk-full-triage"][1:3] == ["@1", "@1"] and rows["disk-full-triage"][-1] == "tester"
    )


def test_versions_of_a_ledger_with_nothing_published_says_to_publish(
    cli: CliRunner, tmp_path: Path
) -> None:
    async def genesis_only() -> None:
        await (await SqliteStore.open(tmp_path / "bot.db")).close()

    event_loop.run(genesis_only())
    result = cli("versions")
    assert (result.code, result.err.strip()) == (
        1,
        "error: Nothing is published yet; run `runbook-bot publish` first.",
    )


def test_errors_are_sentences_on_stderr_with_exit_1(cli: CliRunner) -> None:
    cli("publish")
    for args, message in [
        (
            ("show", "nope"),
            "error: No published runbook is named 'nope'; run `runbook-bot publish` first.",
        ),
        (
            ("show", "restart-service@7"),
            "error: restart-service@7 does not exist; restart-service has versions 1 to 1.",
        ),
        (
            ("show", "restart-service@sha256:12"),
            "error: 'restart-service@sha256:12': a hash prefix needs at least 8 hex digits.",
        ),
        (
            ("diff", "restart-service", "1", "latest"),
            "error: 'latest' is not a version of restart-service; write 3, @3 or sha256:PREFIX.",
        ),
        (
            ("--db", "postgresql://x/y", "ledger", "verify"),
            "error: RUNBOOK_DB_URL uses 'postgresql', which this version does not support; use sqlite:///path/to/file.db.",
        ),
    ]:
        result = cli(*args)
        assert (result.code, result.err.strip()) == (1, message)


def test_global_options_work_after_the_command_too(
    cli: CliRunner, runbooks_dir: Path, tmp_path: Path
) -> None:
    """`runbook-bot validate --runbooks-dir DIR` as people type it, not only before the command;
    given in both places, the one after the command wins."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(runbooks_dir, elsewhere)
    (elsewhere / "restart-service.yml").unlink()
    assert cli("validate").out.startswith("ok: 5 runbook(s) valid")
    after = cli("validate", "--runbooks-dir", str(elsewhere))
    assert after.code == 0 and after.out.startswith("ok: 4 runbook(s) valid")
    assert cli("publish", "--db", f"sqlite:///{tmp_path / 'other.db'}").code == 0
    assert (tmp_path / "other.db").is_file()
    both = cli("--db", "sqlite:///nowhere.db", "versions", "restart-service", "--db", "other.db")
    assert both.code == 0 and both.out.splitlines()[-1] == "* default: restart-service@1"


def test_a_directory_to_validate_brings_its_own_hooks(
    cli: CliRunner, runbooks_dir: Path, tmp_path: Path
) -> None:
    """Like its roles.yml, a directory named to `validate` has its runbooks checked against its
    own hooks/ folder, not RUNBOOKS_DIR's."""
    other = tmp_path / "other-team"
    shutil.copytree(runbooks_dir, other)
    shutil.rmtree(runbooks_dir / "hooks")
    assert "hook 'demo.health' is not registered" in cli("validate").out
    result = cli("validate", str(other))
    assert result.code == 0 and result.out.startswith("ok: 5 runbook(s) valid")
    # The hint for a hook nobody registered names the folder the hooks were looked for in.
    runbook = other / "restart-service.yml"
    runbook.write_text(runbook.read_text().replace("demo.health", "frobnicate.everything"))
    unknown = cli("validate", str(other)).out
    assert "(hint: register it with @hook in a module in other-team/hooks/)" in unknown


def test_reading_commands_refuse_a_ledger_that_is_not_there(cli: CliRunner, tmp_path: Path) -> None:
    """A mistyped --db must not become a new, empty ledger that `ledger verify` calls intact."""
    missing = tmp_path / "typo.db"
    for command in (
        ("ledger", "verify"),
        ("ledger", "export"),
        ("ledger", "checkpoint"),
        ("versions", "restart-service"),
        ("show", "restart-service"),
        ("diff", "restart-service", "1", "2"),
        ("promote", "restart-service@1"),
        ("run", "restart-service"),
    ):
        result = cli("--db", f"sqlite:///{missing}", *command)
        assert (result.code, result.err.strip()) == (
            1,
            f"error: There is no ledger at {missing}; check --db or RUNBOOK_DB_URL "
            "(`runbook-bot publish` or `serve` creates one).",
        ), command
        assert not missing.exists(), command
    assert cli("--db", f"sqlite:///{missing}", "publish").code == 0
    assert cli("--db", f"sqlite:///{missing}", "ledger", "verify").out.startswith("ledger intact")


def test_schema_is_json_schema_and_matches_the_shipped_file(cli: CliRunner) -> None:
    result = cli("schema")
    schema = json.loads(result.out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"name", "title", "steps", "params"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    shipped = json.loads((REPO / "docs" / "runbook.schema.json").read_text(encoding="utf-8"))
    assert shipped == schema, (
        "docs/runbook.schema.json is stale: runbook-bot schema > docs/runbook.schema.json"
    )


def test_ledger_keygen_prints_a_usable_key(cli: CliRunner) -> None:
    out = cli("ledger", "keygen").out
    assert out.startswith("RUNBOOK_LEDGER_SIGNING_KEY=")


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(f"{prefix}{name}")
                found.extend(_commands(sub, f"{prefix}{name} "))
    return found


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [c for c in _commands(build_parser()) if f"runbook-bot {c}" not in readme]
    assert missing == []


def test_python_dash_m_bot_runs_the_same_cli(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RUNBOOKS_DIR": str(REPO / "runbooks"),
        "RUNBOOK_DB_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "validate"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.startswith("ok: 5 runbook(s) valid")
    usage = subprocess.run(
        [sys.executable, "-m", "bot", "frobnicate"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert usage.returncode == 2 and "invalid choice: 'frobnicate'" in usage.stderr


def _handlers(parser: argparse.ArgumentParser) -> dict[str, str]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                handler = sub.get_default("handler")
                if handler is not None:
                    found[name] = handler
                found.update({f"{name} {k}": v for k, v in _handlers(sub).items()})
    return found


def test_every_command_resolves_to_an_async_function() -> None:
    handlers = _handlers(build_parser())
    assert len(handlers) == len([c for c in _commands(build_parser()) if c != "ledger"])
    for name, handler in handlers.items():
        assert inspect.iscoroutinefunction(resolve(handler)), name


def test_the_parser_loads_no_command_module() -> None:
    """`runbook-bot --help`, or `validate`, need not start by importing the Slack app, the web
    server and SQLAlchemy: only the command that runs imports its module."""
    probe = (
        "import sys; from bot.cli.main import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('aiohttp', 'slack_bolt', 'sqlalchemy', 'jinja2') or m.startswith('bot.cli.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "['bot.cli.main']"


def test_reading_a_ledger_changes_nothing_in_its_file(cli: CliRunner, tmp_path: Path) -> None:
    """An auditor's copy stays byte for byte as it was handed over: verify, export, versions,
    show and diff open it read-only. Here the copy was taken while the bot had entries still in
    its write-ahead log; a read-write connection would fold them into the file as it closed."""
    assert cli("publish").code == 0
    holder = sqlite3.connect(tmp_path / "bot.db")  # the running bot: the log is not folded in
    holder.execute("PRAGMA wal_autocheckpoint = 0")
    holder.execute("SELECT count(*) FROM ledger_entries").fetchone()  # now it holds the file
    assert cli("ledger", "checkpoint").code == 0
    audit = tmp_path / "audit"
    audit.mkdir()
    for name in ("bot.db", "bot.db-wal"):
        shutil.copyfile(tmp_path / name, audit / name)
    holder.close()
    handed_over = {name: (audit / name).read_bytes() for name in ("bot.db", "bot.db-wal")}
    assert len(handed_over["bot.db-wal"]) > 0
    db = ("--db", f"sqlite:///{audit / 'bot.db'}")
    assert cli(*db, "ledger", "verify").out.startswith("ledger intact: 7 entries")
    assert len(cli(*db, "ledger", "export").out.splitlines()) == 7
    assert cli(*db, "versions", "restart-service").code == 0
    assert cli(*db, "show", "restart-service").code == 0
    assert {name: (audit / name).read_bytes() for name in handed_over} == handed_over


def test_a_file_that_is_no_ledger_is_refused_and_left_alone(cli: CliRunner, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    result = cli("--db", f"sqlite:///{other}", "ledger", "verify")
    assert (result.code, result.err.strip()) == (
        1,
        f"error: {other} is a SQLite database but holds no runbook-bot ledger; "
        "check --db or RUNBOOK_DB_URL.",
    )
    assert other.read_bytes() == before
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 100, encoding="utf-8")
    garbage = cli("--db", f"sqlite:///{text}", "ledger", "export")
    assert garbage.code == 1 and garbage.err.startswith(
        f"error: {text} is not a usable SQLite database"
    )


def test_a_ledger_where_sqlite_cannot_write_beside_it_is_still_read(
    cli: CliRunner, tmp_path: Path
) -> None:
    """Evidence on a read-only mount: SQLite cannot create the empty `-wal` it wants beside a
    WAL-mode file (played here by a directory in its place, which stops root too). With no
    write-ahead log there, the file alone is the ledger, so it is read as immutable."""
    assert cli("publish").code == 0
    (tmp_path / "bot.db-wal").mkdir()
    before = (tmp_path / "bot.db").read_bytes()
    assert cli("ledger", "verify").out.startswith("ledger intact: 6 entries")
    assert len(cli("ledger", "export").out.splitlines()) == 6
    assert (tmp_path / "bot.db").read_bytes() == before
