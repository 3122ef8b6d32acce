"""A helper process for `parallel_check.check_all`: checks one range of a ledger file.

Usage: python -S -m bot.ledger.range_worker PATH LOW HIGH
Prints `[first_prev_hash, last_hash]` as JSON when the range is intact, `null` when it is not.
Imports only the standard library, so it starts fast without `site`.
"""

from __future__ import annotations

import json
import sqlite3
import sys

from bot.ledger.range_check import check_range


def main(argv: list[str]) -> int:
    path, low, high = argv[0], int(argv[1]), int(argv[2])
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA query_only = ON")
        result = check_range(conn, low, high)
    finally:
        conn.close()
    print(json.dumps(list(result) if result else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
