"""A helper process for `parallel_check.check_all`: checks chunks of a ledger file.

Usage: python -S -m bot.ledger.range_worker URI FD (the file as a read-only `file:` URI)
Reads (low, high) records from the inherited pipe FD until it is empty, checks each chunk, and
prints one line per chunk: `low high first_prev_hash last_hash` when it is intact, `low high -`
when it is not. It imports nothing beyond sqlite3, hashlib, struct and os (not json, subprocess
or pathlib, which would double its start-up), because every millisecond it spends starting is
a millisecond its CPU is not checking chunks; for the same reason it exits without the
interpreter's teardown, which the asking process would otherwise wait for.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import sys
from collections.abc import Iterator

from bot.ledger.range_check import check_range

RECORD = struct.Struct("<qq")  # one chunk in the shared pipe: (low, high)

Result = tuple[str, str] | None  # (first prev_hash, last hash) of an intact range


def take_chunks(conn: sqlite3.Connection, fd: int) -> Iterator[tuple[int, int, Result]]:
    """Check chunks read from the shared pipe until it is empty: (low, high, result) each.
    A torn record cannot happen (parallel_check writes whole records, all before anyone
    reads); were it to, its chunk goes unchecked, and check_all then sees a chunk missing and
    hands the verdict to the careful walk."""
    while len(record := os.read(fd, RECORD.size)) == RECORD.size:
        low, high = RECORD.unpack(record)
        yield low, high, check_range(conn, low, high)


def format_line(low: int, high: int, result: Result) -> str:
    return f"{low} {high} {result[0]} {result[1]}" if result else f"{low} {high} -"


def parse_line(line: str) -> tuple[int, int, Result] | None:
    """One helper line back into (low, high, result); None if it is garbled. A stored hash
    with a space in it garbles its line, which only sends the verdict to the careful walk."""
    fields = line.split(" ")
    try:
        low, high = int(fields[0]), int(fields[1])
    except (ValueError, IndexError):
        return None
    if fields[2:] == ["-"]:
        return low, high, None
    if len(fields) != 4:
        return None
    return low, high, (fields[2], fields[3])


def main(argv: list[str]) -> int:
    uri, fd = argv[0], int(argv[1])
    conn = sqlite3.connect(uri, uri=True)
    try:
        for low, high, result in take_chunks(conn, fd):
            print(format_line(low, high, result))
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    # check_all reads a helper's lines once it has exited. The interpreter's teardown (about
    # 5 ms of freeing modules and objects) would only delay that: with the lines flushed and
    # the connection closed, there is nothing left that needs it.
    sys.stdout.flush()
    os._exit(status)
