"""One canonical JSON encoding, used for content hashes and for ledger payloads."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Built once: json.dumps with any non-default option builds a new encoder on every call, which
# was about a quarter of the cost of encoding the small payloads of a click.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text: equal data always gives equal bytes."""
    return _ENCODER.encode(value)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
