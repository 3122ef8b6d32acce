"""A helper process for `parallel_check.check_all`: checks chunks of a ledger file.

Usage: python -S -m bot.ledger.range_worker PATH FD
Reads (low, high) records from the inherited pipe FD until it is empty, checks each chunk, and
prints one JSON line per chunk: `[low, high, first_prev_hash, last_hash]` when it is intact,
`[low, high, null]` when it is not. Imports only the standard library, so it starts fast
without `site`.
"""

from __future__ import annotations

import json
import sqlite3
import sys

from bot.ledger.parallel_check import take_chunks


def main(argv: list[str]) -> int:
    path, fd = argv[0], int(argv[1])
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA query_only = ON")
        for low, high, result in take_chunks(conn, fd):
            print(json.dumps([low, high, *result] if result else [low, high, None]))
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
