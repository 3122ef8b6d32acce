"""Pure hashing and verification of the chain; see docs/ledger.md for the rule in prose.

An entry's hash is sha256 over these fields joined by "\\n", as UTF-8:
prev_hash, seq, ts, run_id, run_version, kind, actor, payload
(absent run_id / run_version are empty strings; payload is canonical JSON). No field may
contain a newline except inside the JSON escape, so the encoding is unambiguous.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bot.domain.canonical import canonical_json

GENESIS_PREV = "0" * 64
GENESIS_KIND = "ledger.genesis"
FORMAT = "runbook-bot ledger v1"


@dataclass(frozen=True)
class NewEvent:
    """What a caller asks to append. `run_version` makes the append conditional per run."""

    kind: str
    actor: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    run_version: int | None = None


class Entry(NamedTuple):
    """One sealed entry, its fields in the table's column order: a row of `ledger_entries`
    is `Entry(*row)` and an entry is its own INSERT parameters. A named tuple rather than a
    dataclass: every append builds one, and a tuple is built in a fifth of the time."""

    seq: int
    ts: str
    run_id: str | None
    run_version: int | None
    kind: str
    actor: str
    payload: str  # canonical JSON text, exactly as hashed
    prev_hash: str
    hash: str

    @property
    def data(self) -> dict[str, Any]:
        value = json.loads(self.payload)
        assert isinstance(value, dict)
        return value

    def as_export(self) -> dict[str, Any]:
        """Every field needed to recompute the hash; payload as an object."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "run_id": self.run_id,
            "run_version": self.run_version,
            "kind": self.kind,
            "actor": self.actor,
            "payload": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def hash_message(
    prev_hash: str,
    seq: int,
    ts: str,
    run_id: str | None,
    run_version: int | None,
    kind: str,
    actor: str,
    payload: str,
) -> bytes:
    run_version_text = "" if run_version is None else str(run_version)
    return (
        f"{prev_hash}\n{seq}\n{ts}\n{run_id or ''}\n{run_version_text}\n{kind}\n{actor}\n{payload}"
    ).encode()


def compute_hash(entry: Entry, *, seq: int | None = None, prev_hash: str | None = None) -> str:
    message = hash_message(
        entry.prev_hash if prev_hash is None else prev_hash,
        entry.seq if seq is None else seq,
        entry.ts,
        entry.run_id,
        entry.run_version,
        entry.kind,
        entry.actor,
        entry.payload,
    )
    return hashlib.sha256(message).hexdigest()


def _check_single_line(event: NewEvent) -> None:
    for label, value in (("kind", event.kind), ("actor", event.actor), ("run_id", event.run_id)):
        if value is not None and ("\n" in value or (not value.strip() and label != "run_id")):
            raise ValueError(f"ledger {label} must be a non-empty single line, got {value!r}")


class Prepared(NamedTuple):
    """An event checked and with its payload encoded: all the work that needs no head, done
    before taking the write lock so that the lock is held for as little as possible."""

    kind: str
    actor: str
    payload: str
    run_id: str | None
    run_version: int | None


def prepare(events: Iterable[NewEvent]) -> list[Prepared]:
    """Check and encode events; a ValueError here means nothing was written."""
    out = []
    for event in events:
        _check_single_line(event)
        payload = event.payload
        text = canonical_json(payload if type(payload) is dict else dict(payload))
        out.append(Prepared(event.kind, event.actor, text, event.run_id, event.run_version))
    return out


def seal(events: Sequence[Prepared], *, head_seq: int, head_hash: str, ts: str) -> list[Entry]:
    """Turn prepared events into chained entries following the head (seq, hash)."""
    entries = []
    prev_hash, seq = head_hash, head_seq
    for event in events:
        seq += 1
        message = hash_message(
            prev_hash,
            seq,
            ts,
            event.run_id,
            event.run_version,
            event.kind,
            event.actor,
            event.payload,
        )
        digest = hashlib.sha256(message).hexdigest()
        entries.append(
            Entry(
                seq,
                ts,
                event.run_id,
                event.run_version,
                event.kind,
                event.actor,
                event.payload,
                prev_hash,
                digest,
            )
        )
        prev_hash = digest
    return entries


def seal_groups(
    groups: Sequence[Sequence[Prepared]], head: tuple[int, str], clock: Callable[[], str]
) -> list[list[Entry]]:
    """Several appends sealed in turn after `head` (seq, hash), each with its own time."""
    sealed: list[list[Entry]] = []
    for events in groups:
        entries = seal(events, head_seq=head[0], head_hash=head[1], ts=clock())
        sealed.append(entries)
        head = (entries[-1].seq, entries[-1].hash)
    return sealed


def genesis_event() -> NewEvent:
    return NewEvent(kind=GENESIS_KIND, actor="runbook-bot", payload={"format": FORMAT})


# ---- verification ---------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The outcome of re-hashing a chain. `bad_seq` is the first sequence number at fault."""

    entries: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_seq is None

    def summary(self) -> str:
        if self.ok:
            return f"ledger intact: {entry_count(self.entries)}, head {self.head_seq} sha256:{self.head_hash}"
        return f"ledger broken at entry {self.bad_seq}: {self.problem}"


def entry_count(count: int) -> str:
    """`1 entry`, `2 entries`: for the summaries people read."""
    return f"{count} entry" if count == 1 else f"{count} entries"


LOOKBACK = 4  # good entries kept behind the walk, for naming a fault


def verify_chain(entries: Iterable[Entry], *, before: Sequence[Entry] = ()) -> Verdict:
    """Walk the chain once; on the first fault, look around it to name what happened.
    `before`: when the walk starts part-way, the entries just ahead of `entries` (the last
    LOOKBACK of them are enough), all of them already known to be intact and linked from the
    genesis entry on."""
    window: list[Entry] = list(before[-LOOKBACK:])  # the last few good entries, for diagnosis
    prev: Entry | None = window[-1] if window else None
    count = prev.seq if prev is not None else 0  # an intact prefix has every seq up to there
    iterator = iter(entries)
    for entry in iterator:
        expected_seq = 1 if prev is None else prev.seq + 1
        expected_prev = GENESIS_PREV if prev is None else prev.hash
        if (
            entry.seq != expected_seq
            or entry.prev_hash != expected_prev
            or compute_hash(entry) != entry.hash
        ):
            ahead = [entry, *_take(iterator, 3)]
            return _diagnose(window, ahead, count)
        window = [*window[-(LOOKBACK - 1) :], entry]
        prev = entry
        count += 1
    if prev is None:
        return Verdict(0, 0, GENESIS_PREV, 1, "the ledger is empty: the genesis entry is missing")
    return Verdict(count, prev.seq, prev.hash)


def _take(iterator: Iterator[Entry], n: int) -> list[Entry]:
    out = []
    for entry in iterator:
        out.append(entry)
        if len(out) == n:
            break
    return out


def _self_ok(entry: Entry, seq: int) -> bool:
    return compute_hash(entry, seq=seq) == entry.hash


def _diagnose(good: list[Entry], ahead: list[Entry], count: int) -> Verdict:
    """Name the tamper class at the first bad entry (good[-1] is the last intact one)."""
    last = good[-1] if good else None
    expected = 1 if last is None else last.seq + 1
    head_seq, head_hash = (last.seq, last.hash) if last else (0, GENESIS_PREV)

    def verdict(seq: int, problem: str) -> Verdict:
        return Verdict(count, head_seq, head_hash, seq, problem)

    bad = ahead[0]
    after = ahead[1] if len(ahead) > 1 else None
    if (
        bad.seq > expected
        and _self_ok(bad, bad.seq)
        and (last is None or bad.prev_hash != last.hash)
    ):
        missing = f"{expected}" if bad.seq == expected + 1 else f"{expected} to {bad.seq - 1}"
        return verdict(
            expected,
            f"entry missing: entries {missing} are gone (entry {bad.seq} follows {head_seq})",
        )
    if after is not None and _self_ok(bad, bad.seq + 1) and _self_ok(after, after.seq - 1):
        return verdict(bad.seq, f"order changed: entries {bad.seq} and {after.seq} were swapped")
    for shift in (1, 2, 3):
        if _self_ok(bad, bad.seq + shift):
            return verdict(
                bad.seq,
                f"entry missing: {shift} entr{'y' if shift == 1 else 'ies'} before this one were deleted and later entries renumbered",
            )
    inserted = _find_inserted(good, ahead)
    if inserted is not None:
        return verdict(inserted, f"entry inserted: entry {inserted} was not in the original chain")
    if compute_hash(bad) != bad.hash:
        if last is None or bad.prev_hash == last.hash:
            return verdict(
                bad.seq, "payload changed: the entry's content no longer matches its hash"
            )
        return verdict(bad.seq, "entry changed and does not link to the entry before it")
    if last is None and bad.seq == 1:
        return verdict(1, "chain cut: the first entry does not start from the genesis hash")
    return verdict(bad.seq, f"chain cut: prev_hash does not match the hash of entry {head_seq}")


def _find_inserted(good: list[Entry], ahead: list[Entry]) -> int | None:
    """An original entry renumbered upward, still linking to an earlier entry, betrays an insert."""
    if not good:
        return None
    bad = ahead[0]
    for shift in range(1, min(3, len(good) - 1) + 1):
        # The inserted entries were hashed validly; the first original after them was not.
        if _self_ok(bad, bad.seq - shift) and bad.prev_hash == good[-1 - shift].hash:
            return good[-shift].seq
    last = good[-1]
    for later in ahead[1:]:
        # The inserted entry itself is broken; an original further on still links to `last`.
        for shift in (1, 2, 3):
            if later.prev_hash == last.hash and _self_ok(later, later.seq - shift):
                return last.seq + 1
    return None
