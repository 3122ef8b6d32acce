"""ledger verify, export, checkpoint, keygen."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

from bot.cli.common import acting_person, opened_store
from bot.config import Settings
from bot.errors import UserError
from bot.ledger.chain import Entry, NewEvent, Verdict
from bot.ledger.checkpoints import KIND, Checkpoint, generate_key, load_private_key, make_checkpoint
from bot.ledger.clock import utc_now
from bot.ledger.export import (
    markdown_footer,
    markdown_header,
    markdown_row,
    to_jsonl,
    verification_note,
)
from bot.ledger.store import LedgerStore

EXPORT_PAGE = 5000  # entries read and written at a time


async def verify(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    # A checkpoint that cannot be read is an error before anything is verified, not after.
    checkpoint = (
        await _read_checkpoint(Path(args.from_checkpoint)) if args.from_checkpoint else None
    )
    async with opened_store(settings, read_only=True) as store:
        verdict = await store.verify()
        print(verdict.summary(), file=out)
        if not verdict.ok:
            return 1
        if checkpoint is not None:
            if not checkpoint.signature_valid():
                print(f"checkpoint {args.from_checkpoint}: the signature is invalid", file=out)
                return 1
            entry = await store.entry(checkpoint.size)
            if entry is None:
                print(
                    f"checkpoint {args.from_checkpoint}: the ledger has {verdict.head_seq} entries, "
                    f"fewer than the {checkpoint.size} it had then; entries were removed",
                    file=out,
                )
                return 1
            if entry.hash != checkpoint.head_hash:
                print(
                    f"checkpoint {args.from_checkpoint}: entry {checkpoint.size} now has hash "
                    f"{entry.hash[:16]}…, the checkpoint recorded {checkpoint.head_hash[:16]}…; "
                    "the ledger was rewritten",
                    file=out,
                )
                return 1
            print(f"the ledger extends the checkpoint at entry {checkpoint.size}", file=out)
    return 0


async def _read_checkpoint(path: Path) -> Checkpoint:
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        return Checkpoint.from_dict(json.loads(text))
    except OSError as exc:
        raise UserError(f"Cannot read checkpoint {path}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a checkpoint: it is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}.") from None
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


async def export(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Written a page at a time: memory stays flat however long the ledger is. A transcript
    (md) is for readers who will not verify it themselves, so it opens with what verification
    found; when the chain is broken it is still written whole, and the exit status is 1."""
    markdown = args.format == "md"
    async with opened_store(settings, read_only=True) as store:
        pages = _pages(store, args.run)
        page: list[Entry] = await anext(pages, [])
        if args.run and not page:
            raise UserError(f"No ledger entries belong to run {args.run!r}.")
        verdict: Verdict | None = None
        if markdown:
            verdict = await store.verify()
            title = f"Run {args.run}" if args.run else "runbook-bot ledger"
            checked = verification_note(verdict, utc_now())
            out.write(markdown_header(f"{title}: transcript", checked))
        count = 0
        while page:
            count += len(page)
            out.write("".join(map(markdown_row, page) if markdown else to_jsonl(page)))
            page = await anext(pages, [])
        if markdown:
            out.write(markdown_footer(count))
    if verdict is not None and not verdict.ok:
        print(f"warning: {verdict.summary()}; the transcript says so at the top.", file=sys.stderr)
        return 1
    return 0


async def _pages(store: LedgerStore, run_id: str | None) -> AsyncIterator[list[Entry]]:
    after = 0
    while page := await store.read(after=after, run_id=run_id, limit=EXPORT_PAGE):
        yield page
        after = page[-1].seq


async def checkpoint(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    key = settings.runbook_ledger_signing_key
    private = load_private_key(key.get_secret_value()) if key else None
    async with opened_store(settings, existing=True) as store:
        size, head_hash = await store.head()
        made = make_checkpoint(size, head_hash, utc_now(), private)
        await store.append(
            [NewEvent(kind=KIND, actor=acting_person(args.actor), payload=made.to_dict())]
        )
    print(json.dumps(made.to_dict(), indent=2), file=out)
    return 0


async def keygen(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    private, public = generate_key()
    print(f"RUNBOOK_LEDGER_SIGNING_KEY={private}", file=out)
    print(f"# public key (give it to auditors): {public}", file=out)
    return 0
