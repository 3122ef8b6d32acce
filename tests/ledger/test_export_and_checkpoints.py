"""Exports an auditor can re-hash without the bot, and checkpoints that anchor the head."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot import event_loop
from bot.cli import ledger_commands
from bot.domain.canonical import canonical_json
from bot.ledger.chain import Entry, NewEvent
from bot.ledger.checkpoints import Checkpoint, generate_key, load_private_key, make_checkpoint
from bot.ledger.export import describe, to_jsonl
from bot.ledger.sqlite_store import SqliteStore
from tests.conftest import CliRunner

VERIFIER = Path(__file__).with_name("independent_verifier.py")


def run_verifier(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(VERIFIER), str(path)], capture_output=True, text=True, check=False
    )


async def fill(store: SqliteStore) -> None:
    await store.append(
        [
            NewEvent(
                "run.started",
                "U1",
                {"params": {"service": "api"}, "n": 1.5},
                run_id="r-1",
                run_version=1,
            )
        ]
    )
    await store.append(
        [
            NewEvent(
                "step.done",
                "Zoë",
                {"note": 'done ✓ <ok> & "quoted"\nline two'},
                run_id="r-1",
                run_version=2,
            )
        ]
    )
    await store.append(
        [NewEvent("catalog.note", "bob", {"list": [1, None, True, {"b": 2, "a": 1}]})]
    )


def test_independent_verifier_accepts_an_export_and_catches_edits(
    cli: CliRunner, tmp_path: Path
) -> None:
    assert cli("publish", "-m", "first").code == 0
    export = cli("ledger", "export")
    assert export.code == 0
    path = tmp_path / "export.jsonl"
    path.write_text(export.out, encoding="utf-8")
    result = run_verifier(path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith(f"ok: {len(export.out.splitlines())} entries")

    lines = export.out.splitlines(keepends=True)
    edited = json.loads(lines[2])
    edited["actor"] = "mallory"
    path.write_text("".join([*lines[:2], json.dumps(edited) + "\n", *lines[3:]]), encoding="utf-8")
    result = run_verifier(path)
    assert result.returncode == 1
    assert result.stdout.strip() == "entry 3: content does not match its hash"


async def test_independent_verifier_handles_every_field_shape(
    store: SqliteStore, tmp_path: Path
) -> None:
    await fill(store)
    path = tmp_path / "e.jsonl"
    path.write_text("".join(to_jsonl(await store.read())), encoding="utf-8")
    result = run_verifier(path)
    assert result.returncode == 0, result.stdout
    head_seq, head_hash = await store.head()
    assert result.stdout.strip() == f"ok: {head_seq} entries, head {head_hash}"


def test_markdown_export_is_a_readable_transcript(cli: CliRunner) -> None:
    cli("publish", "-m", "first release")
    cli("promote", "restart-service@1")
    md = cli("ledger", "export", "--format", "md").out
    assert md.startswith("# runbook-bot ledger: transcript")
    assert "| 2 |" in md and "| tester | Published customer-comms-outage@1 (sha256:" in md
    assert "from " in md and ': "first release".' in md


def without_time(transcript: str) -> str:
    """A transcript with the minute it was verified blanked, for comparing two exports."""
    return re.sub(r"\(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)", "(TIME)", transcript)


def test_a_transcript_opens_with_what_verification_found(cli: CliRunner, tmp_path: Path) -> None:
    """Readers of the md transcript will not run `ledger verify`; it tells them. A tampered
    ledger is still exported whole, with a warning at the top, and the exit status is 1."""
    cli("publish")
    intact = cli("ledger", "export", "--format", "md")
    head = json.loads(cli("ledger", "export").out.splitlines()[-1])["hash"]
    assert intact.code == 0 and intact.err == ""
    assert without_time(intact.out).splitlines()[2] == (
        f"**Verified when exported (TIME):** entries 1 to 6 are intact and chained; "
        f"the last one's sha256 is `{head}`."
    )
    run_only = cli("ledger", "export", "--format", "md", "--run", "nope")
    assert run_only.code == 1  # an unknown run is still an error, verified or not
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        conn.execute("DROP TRIGGER ledger_entries_no_update")
        conn.execute("UPDATE ledger_entries SET actor = 'mallory' WHERE seq = 3")
    tampered = cli("ledger", "export", "--format", "md")
    assert tampered.code == 1
    assert without_time(tampered.out).splitlines()[2] == (
        "**WARNING: this ledger does not verify (TIME).** Entry 3: payload changed: the "
        "entry's content no longer matches its hash. The rows below are what the file holds "
        "now; from entry 3 on, they cannot be trusted."
    )
    assert "| 3 |" in tampered.out and "| mallory |" in tampered.out
    assert tampered.out.rstrip().endswith("\n6 entries.")
    assert tampered.err.strip() == (
        "warning: ledger broken at entry 3: payload changed: the entry's content no longer "
        "matches its hash; the transcript says so at the top."
    )
    assert cli("ledger", "export").code == 0  # JSON lines are for verifying: no verdict


def test_export_of_an_unknown_run_is_a_clear_error(cli: CliRunner) -> None:
    cli("publish")
    result = cli("ledger", "export", "--run", "nope")
    assert result.code == 1
    assert result.err.strip() == "error: No ledger entries belong to run 'nope'."


def test_signed_checkpoints_are_recorded_and_checked(cli: CliRunner) -> None:
    mp = pytest.MonkeyPatch()
    private, public = generate_key()
    mp.setenv("RUNBOOK_LEDGER_SIGNING_KEY", private)
    try:
        cli("publish")
        made = cli("ledger", "checkpoint")
    finally:
        mp.undo()
    checkpoint = Checkpoint.from_dict(json.loads(made.out))
    assert checkpoint.signed and checkpoint.public_key == public and checkpoint.signature_valid()
    assert checkpoint.size == 6  # genesis + five published runbooks
    verified = cli("ledger", "verify")
    assert verified.code == 0 and verified.out.startswith("ledger intact: 7 entries")


async def test_a_forged_checkpoint_signature_is_caught(store: SqliteStore) -> None:
    key = load_private_key(generate_key()[0])
    size, head = await store.head()
    good = make_checkpoint(size, head, "2026-01-01T00:00:00Z", key)
    forged = Checkpoint(
        good.size, good.head_hash, "2026-01-02T00:00:00Z", good.public_key, good.signature
    )
    await store.append([NewEvent("ledger.checkpoint", "mallory", forged.to_dict())])
    verdict = await store.verify()
    assert (verdict.bad_seq, verdict.problem) == (2, "checkpoint signature is invalid")


async def test_a_checkpoint_naming_a_different_head_is_caught(store: SqliteStore) -> None:
    wrong = make_checkpoint(1, "ab" * 32, "2026-01-01T00:00:00Z", None)
    await store.append([NewEvent("ledger.checkpoint", "x", wrong.to_dict())])
    verdict = await store.verify()
    assert verdict.bad_seq == 2 and verdict.problem.startswith(
        "checkpoint says entry 1 has hash abababab"
    )


def test_from_checkpoint_detects_a_wholesale_rewrite(cli: CliRunner, tmp_path: Path) -> None:
    cli("publish")
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_text(cli("ledger", "checkpoint").out, encoding="utf-8")
    cli("publish", "-m", "nothing new")
    ok = cli("ledger", "verify", "--from-checkpoint", str(checkpoint))
    assert (
        ok.code == 0 and ok.out.splitlines()[-1] == "the ledger extends the checkpoint at entry 6"
    )

    # The attacker rebuilds a whole, self-consistent ledger with other content.
    db = tmp_path / "bot.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    (tmp_path / "runbooks" / "customer-comms-outage.yml").unlink()
    assert cli("publish", "-m", "rewritten").code == 0
    assert cli("ledger", "verify").code == 0  # the forged chain is consistent in itself...
    caught = cli("ledger", "verify", "--from-checkpoint", str(checkpoint))
    assert caught.code == 1 and "the ledger has 5 entries, fewer than the 6" in caught.out

    rb = tmp_path / "runbooks" / "restart-service.yml"
    rb.write_text(
        rb.read_text(encoding="utf-8").replace("quorum: 1", "quorum: 2"), encoding="utf-8"
    )
    assert cli("publish", "-m", "grow the forged ledger past the checkpoint").code == 0
    shutil.copy(checkpoint, tmp_path / "cp.json")
    caught = cli("ledger", "verify", "--from-checkpoint", str(tmp_path / "cp.json"))
    assert caught.code == 1 and "the ledger was rewritten" in caught.out


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "error: Cannot read checkpoint {path}: No such file or directory."),
        ("size: 6", "error: {path} is not JSON: Expecting value at line 1."),
        ("[6]", "error: {path}: This is not a checkpoint: a checkpoint is a JSON object"),
        (
            '{"size": 6, "time": "2026-11-22T08:20:00Z"}',
            "error: {path}: This is not a checkpoint: it has no head_hash (a checkpoint is",
        ),
        (
            '{"size": "six", "head_hash": "ab", "time": "t"}',
            "error: {path}: This is not a checkpoint: size must be a number of entries, not 'six'.",
        ),
    ],
    ids=["missing", "not-json", "not-an-object", "no-head-hash", "bad-size"],
)
def test_a_checkpoint_that_cannot_be_used_is_named_before_anything_is_verified(
    cli: CliRunner, tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "checkpoint.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = cli("ledger", "verify", "--from-checkpoint", str(path))
    assert result.code == 1 and result.out == ""  # no verdict printed above the error
    assert result.err.strip().startswith(problem.format(path=path))


def test_summaries_count_one_entry_in_the_singular(cli: CliRunner, tmp_path: Path) -> None:
    async def genesis_only() -> None:  # a new ledger holds its genesis entry alone
        await (await SqliteStore.open(tmp_path / "bot.db")).close()

    event_loop.run(genesis_only())
    assert cli("ledger", "verify").out.startswith("ledger intact: 1 entry, head 1 sha256:")
    assert cli("ledger", "export", "--format", "md").out.rstrip().endswith("\n1 entry.")


@pytest.mark.parametrize("format_", ["jsonl", "md"])
def test_an_export_written_a_page_at_a_time_is_the_whole_transcript(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, format_: str
) -> None:
    """Pages keep memory flat on a long ledger; they must not change a byte of the output."""
    cli("publish")
    whole = without_time(cli("ledger", "export", "--format", format_).out)
    monkeypatch.setattr(ledger_commands, "EXPORT_PAGE", 2)  # 6 entries: three pages
    assert without_time(cli("ledger", "export", "--format", format_).out) == whole
    lines = whole.splitlines()
    assert (len(lines) == 6) if format_ == "jsonl" else (lines[-1] == "6 entries.")
    entries = [json.loads(line) for line in cli("ledger", "export").out.splitlines()]
    assert [e["seq"] for e in entries] == list(range(1, 7))


@pytest.mark.parametrize(
    ("title", "described"),
    [
        ("What filled the disk?", "Step 'cause': What filled the disk?"),
        ("Stop now!", "Step 'cause': Stop now!"),
        ("Check the logs.", "Step 'cause': Check the logs."),
        ("Check the logs", "Step 'cause': Check the logs."),
    ],
)
def test_a_sentence_keeps_its_own_mark_without_a_full_stop_after_it(
    title: str, described: str
) -> None:
    entry = Entry(
        5,
        "2026-11-23T10:00:00Z",
        "run-1",
        2,
        "step.presented",
        "runbook-bot",
        canonical_json({"step": "cause", "title": title}),
        "0" * 64,
        "1" * 64,
    )
    assert describe(entry) == described
