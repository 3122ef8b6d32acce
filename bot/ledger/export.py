"""Transcripts for auditors: JSON lines that can be re-hashed, and Markdown that people can read."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from bot.ledger.chain import GENESIS_KIND, Entry, Verdict, entry_count
from bot.ledger.checkpoints import KIND as CHECKPOINT_KIND
from bot.ledger.projections import PROMOTED, PUBLISHED


def to_jsonl(entries: Iterable[Entry]) -> Iterator[str]:
    for entry in entries:
        yield json.dumps(entry.as_export(), ensure_ascii=False, sort_keys=True) + "\n"


def describe(entry: Entry) -> str:
    """One plain sentence saying what an entry records."""
    sentence = _describe(entry)
    # A title, note or reason that ends its own sentence ("What filled the disk?") keeps
    # its mark, without a full stop after it.
    return sentence[:-1] if sentence.endswith(("?.", "!.", "..")) else sentence


def _describe(entry: Entry) -> str:
    data = entry.data
    if entry.kind == GENESIS_KIND:
        return f"Ledger created ({data.get('format', 'unknown format')})."
    if entry.kind == PUBLISHED:
        message = f': "{data["message"]}"' if data.get("message") else ""
        return f"Published {data['name']}@{data['number']} (sha256:{data['sha256'][:12]}) from {data.get('path', '?')}{message}."
    if entry.kind == PROMOTED:
        was = f", replacing {data['name']}@{data['previous']}" if data.get("previous") else ""
        return (
            f"Made {data['name']}@{data['number']} (sha256:{data['sha256'][:12]}) the default{was}."
        )
    if entry.kind == CHECKPOINT_KIND:
        signed = "signed" if data.get("signature") else "unsigned"
        return f"Checkpoint ({signed}): {data['size']} entries, head sha256:{str(data['head_hash'])[:12]}."
    run_text = _describe_run(entry.kind, data)
    if run_text:
        return run_text
    details = ", ".join(f"{k}: {_short(v)}" for k, v in sorted(data.items()))
    return f"{entry.kind}" + (f" ({details})" if details else "") + "."


def key_values(values: dict[str, Any]) -> str:
    """`service=api, env=production`: params and hook arguments as a person reads them."""
    return ", ".join(f"{key}={_short(value)}" for key, value in values.items())


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def to_markdown(entries: Iterable[Entry], *, title: str) -> Iterator[str]:
    """The whole transcript; a long one can also be written a page of entries at a time with
    the header, rows and footer below."""
    yield markdown_header(title)
    count = 0
    for entry in entries:
        count += 1
        yield markdown_row(entry)
    yield markdown_footer(count)


def markdown_header(title: str, checked: str = "") -> str:
    """`checked`: what verification found when the transcript was made (`verification_note`)."""
    return (
        f"# {title}\n\n"
        + (f"{checked}\n\n" if checked else "")
        + "Each row is one ledger entry. `hash` is the first 12 hex digits of the entry's sha256;\n"
        "verify the full chain with `runbook-bot ledger verify` or the JSON lines export.\n\n"
        "| seq | time (UTC) | who | what | hash |\n|---:|---|---|---|---|\n"
    )


def verification_note(verdict: Verdict, when: str) -> str:
    """The transcript's first words for a reader who will not run `ledger verify`: whether
    the chain held when it was exported, and if not, from which entry on it cannot be trusted."""
    at = when.replace("T", " ")[:16]
    if verdict.ok:
        return (
            f"**Verified when exported ({at} UTC):** entries 1 to {verdict.head_seq} are intact "
            f"and chained; the last one's sha256 is `{verdict.head_hash}`."
        )
    return (
        f"**WARNING: this ledger does not verify ({at} UTC).** Entry {verdict.bad_seq}: "
        f"{verdict.problem}. The rows below are what the file holds now; from entry "
        f"{verdict.bad_seq} on, they cannot be trusted."
    )


def markdown_row(entry: Entry) -> str:
    what = describe(entry).replace("|", "\\|")
    when = entry.ts.replace("T", " ").removesuffix("Z")
    return f"| {entry.seq} | {when} | {entry.actor} | {what} | `{entry.hash[:12]}` |\n"


def markdown_footer(count: int) -> str:
    return f"\n{entry_count(count)}.\n"


def _describe_run(kind: str, d: dict[str, Any]) -> str:
    """Plain words for run events, for transcripts and the terminal drill."""
    step = f"'{d.get('step', '')}'"
    params = key_values(d.get("params", {}))
    texts: dict[str, Callable[[], str]] = {
        "run.started": lambda: (
            f"Started {d.get('runbook')}@{d.get('number')} (sha256:{str(d.get('sha256', ''))[:12]}) in {d.get('channel')}"
            + (f" with {params}" if params else "")
            + "."
        ),
        "step.presented": lambda: f"Step {step}: {d.get('title')}.",
        "step.done": lambda: (
            f"Marked {step} done" + (f": {d['note']}" if d.get("note") else "") + "."
        ),
        "step.skipped": lambda: f"Skipped {step}: {d.get('reason')}.",
        "decision.taken": lambda: (
            f'Chose "{d.get("choice")}" at {step}; continuing at {d.get("goto")}.'
        ),
        "approval.requested": lambda: (
            f"Approval needed for {step}: {d.get('quorum')} of {', '.join(d.get('roles', []))}."
        ),
        "approval.granted": lambda: f"Approved {step} ({d.get('count')} of {d.get('quorum')}).",
        "approval.denied": lambda: f"Denied {step}: {d.get('reason')}.",
        "approval.refused": lambda: (
            f"Refused to {d.get('action', 'approve')} {step}: {d.get('why')}."
        ),
        "hook.planned": lambda: f"Plan for {step}: {_short(d.get('plan'))}.",
        "hook.started": lambda: f"Running {d.get('hook')} for {step} (attempt {d.get('attempt')}).",
        "hook.succeeded": lambda: (
            f"{step} succeeded in {d.get('duration_ms')} ms"
            + (f": {_short(d['result'])}" if d.get("result") is not None else "")
            + "."
        ),
        "hook.failed": lambda: f"{step} failed after {d.get('duration_ms')} ms: {d.get('error')}.",
        "hook.timed_out": lambda: f"{step} timed out after {d.get('duration_ms')} ms.",
        "hook.interrupted": lambda: (
            f"{step} was interrupted when the bot stopped; a person must retry, skip or abort."
        ),
        "rollback.started": lambda: f"Rolling back {step} with {d.get('hook')}.",
        "rollback.finished": lambda: (
            f"Rollback of {step} {'succeeded' if d.get('ok') else 'failed'}"
            + (f": {d['error']}" if d.get("error") else "")
            + "."
        ),
        "note.amended": lambda: f"Note on {step} corrected to: {d.get('note')}.",
        "run.aborted": lambda: f"Run aborted: {d.get('reason')}.",
        "run.completed": lambda: "Run completed.",
    }
    make = texts.get(kind)
    return make() if make else ""
