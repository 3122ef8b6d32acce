"""The ledger's DDL, generated from the SQLModel tables, and its fingerprint.

Importing SQLAlchemy and SQLModel takes about a third of a second, a large part of the bot's
start-up, and the DDL is only needed when a file is new or was made by a version of the bot
with other tables. So the store records `fingerprint(schema_statements())` in the file
(`PRAGMA user_version`) and imports this module only when the file holds another number.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import SQLModel

from bot.ledger import tables
from bot.ledger.checkpoints import IS_CHECKPOINT_SQL


def schema_statements() -> list[str]:
    """DDL from the SQLModel tables, plus the triggers that make them append-only."""
    dialect = sqlite_dialect.dialect()
    statements = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in (*tables.APPEND_ONLY_TABLES, *tables.INDEX_TABLES):
            continue
        statements.append(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)))
        for index in sorted(table.indexes, key=lambda index: str(index.name)):
            statements.append(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect)))
    # Verification finds checkpoints through this; other entries never touch it.
    statements.append(
        "CREATE INDEX IF NOT EXISTS ix_ledger_checkpoints ON ledger_entries (seq) "
        f"WHERE {IS_CHECKPOINT_SQL}"
    )
    for name in tables.APPEND_ONLY_TABLES:
        for action in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {name}_no_{action.lower()} BEFORE {action} ON {name} "
                f"BEGIN SELECT RAISE(ABORT, '{name} is append-only: {action} is refused'); END"
            )
    return statements


def fingerprint(statements: list[str]) -> int:
    """A number for this exact DDL that fits `PRAGMA user_version` (a signed 32-bit integer)
    and is never 0, the value of a new file."""
    digest = hashlib.sha256("\n".join(statements).encode()).hexdigest()
    return int(digest[:7], 16) or 1
