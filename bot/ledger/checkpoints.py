"""Checkpoints: (size, head hash, time), optionally Ed25519-signed, to anchor the head elsewhere."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from bot.errors import UserError

KIND = "ledger.checkpoint"
# Where verification finds checkpoints: a literal, so SQLite uses the partial index on it.
IS_CHECKPOINT_SQL = f"kind = '{KIND}'"


@dataclass(frozen=True)
class Checkpoint:
    size: int
    head_hash: str
    time: str
    public_key: str = ""  # base64 raw Ed25519 public key, when signed
    signature: str = ""  # base64 signature over `message()`

    def message(self) -> bytes:
        return f"runbook-bot checkpoint v1\n{self.size}\n{self.head_hash}\n{self.time}".encode()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Checkpoint:
        """A checkpoint from its JSON object, or a UserError that says what is wrong with it."""
        fields = "a checkpoint is a JSON object with size, head_hash and time"
        if not isinstance(data, dict):
            raise UserError(f"This is not a checkpoint: {fields}.")
        missing = [name for name in ("size", "head_hash", "time") if name not in data]
        if missing:
            raise UserError(
                f"This is not a checkpoint: it has no {' or '.join(missing)} ({fields})."
            )
        size = data["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise UserError(
                f"This is not a checkpoint: size must be a number of entries, not {size!r}."
            )
        return cls(
            size=size,
            head_hash=str(data["head_hash"]),
            time=str(data["time"]),
            public_key=str(data.get("public_key", "")),
            signature=str(data.get("signature", "")),
        )

    @property
    def signed(self) -> bool:
        return bool(self.signature)

    def signature_valid(self) -> bool:
        if not self.signed:
            return True
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key))
            key.verify(base64.b64decode(self.signature), self.message())
        except (InvalidSignature, ValueError):
            return False
        return True


def load_private_key(text: str) -> Ed25519PrivateKey:
    """A base64 32-byte Ed25519 seed, as `runbook-bot ledger keygen` prints it."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PrivateKey.from_private_bytes(raw)
    except ValueError:
        raise UserError(
            "RUNBOOK_LEDGER_SIGNING_KEY is not a base64 Ed25519 key; make one with `runbook-bot ledger keygen`."
        ) from None


def generate_key() -> tuple[str, str]:
    """(private, public) as base64 text."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


def make_checkpoint(
    size: int, head_hash: str, time: str, key: Ed25519PrivateKey | None
) -> Checkpoint:
    unsigned = Checkpoint(size, head_hash, time)
    if key is None:
        return unsigned
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = key.sign(unsigned.message())
    return Checkpoint(
        size,
        head_hash,
        time,
        base64.b64encode(public).decode(),
        base64.b64encode(signature).decode(),
    )
