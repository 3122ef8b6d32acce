"""An auditor's verifier for `runbook-bot ledger export --format jsonl`, written from docs/ledger.md
alone: standard library only, no import from the bot. Usage: python independent_verifier.py FILE"""

import hashlib
import json
import sys


def verify(lines):
    prev_hash, expected_seq = "0" * 64, 1
    for line in lines:
        e = json.loads(line)
        if e["seq"] != expected_seq:
            return f"entry {expected_seq}: missing (next is {e['seq']})"
        if e["prev_hash"] != prev_hash:
            return f"entry {e['seq']}: does not link to the entry before it"
        payload = json.dumps(
            e["payload"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        fields = [
            e["prev_hash"],
            str(e["seq"]),
            e["ts"],
            e["run_id"] or "",
            "" if e["run_version"] is None else str(e["run_version"]),
            e["kind"],
            e["actor"],
            payload,
        ]
        if hashlib.sha256("\n".join(fields).encode("utf-8")).hexdigest() != e["hash"]:
            return f"entry {e['seq']}: content does not match its hash"
        prev_hash, expected_seq = e["hash"], expected_seq + 1
    return f"ok: {expected_seq - 1} entries, head {prev_hash}"


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:  # noqa: PTH123
        result = verify(f)
    print(result)
    sys.exit(0 if result.startswith("ok") else 1)
