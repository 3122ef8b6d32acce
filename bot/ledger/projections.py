"""Which read-model rows an entry adds. Pure, and applied in the same transaction as the append,
so a conflicting row (say, a second `name@3`) rejects the whole append."""

from __future__ import annotations

from typing import Any

from bot.ledger.chain import Entry

PUBLISHED = "runbook.published"
PROMOTED = "runbook.promoted"

Row = tuple[str, dict[str, Any]]


def rows_for(entry: Entry) -> list[Row]:
    if entry.kind == PUBLISHED:
        data = entry.data
        version = {
            "name": data["name"],
            "number": data["number"],
            "sha256": data["sha256"],
            "source": data["source"],
            "author": entry.actor,
            "message": data.get("message", ""),
            "published_at": entry.ts,
            "seq": entry.seq,
        }
        default = {"seq": entry.seq, "name": data["name"], "number": data["number"]}
        return [("runbook_versions", version), ("runbook_defaults", default)]
    if entry.kind == PROMOTED:
        data = entry.data
        return [
            ("runbook_defaults", {"seq": entry.seq, "name": data["name"], "number": data["number"]})
        ]
    return []


def run_index_change(entry: Entry) -> tuple[str, dict[str, Any]] | None:
    """("insert" | "status", row) for the runs index, or None."""
    if entry.run_id is None:
        return None
    if entry.kind == "run.started":
        data = entry.data
        row = {
            "run_id": entry.run_id,
            "runbook": str(data.get("runbook", "")),
            "channel": str(data.get("channel", "")),
            "requester": str(data.get("requester", entry.actor)),
            "status": "active",
            "started_seq": entry.seq,
            "last_seq": entry.seq,
        }
        return "insert", row
    status = {"run.completed": "completed", "run.aborted": "aborted"}.get(entry.kind)
    if status is None:  # most entries: the index is left alone, so the append writes less
        return None
    return "status", {"run_id": entry.run_id, "status": status, "last_seq": entry.seq}
