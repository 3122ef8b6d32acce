"""The append-only, hash-chained ledger: the source of truth for every decision."""
