"""Post every ledger entry of a run into its Slack thread: in ledger order, exactly once.

Each post is marked `sending` before the call and `sent` with its ts after. After a crash, a
`sending` entry is looked up in the thread (every post starts with its `#seq` and short hash)
before it is posted again, so a restart neither loses nor repeats a message. The run's root
message is guarded the same way: its thread row is begun before the post, and a begun root is
looked up in the channel's history (its text starts `Run <id>`). Rate limits and
server errors are retried by slack_sdk's retry handlers, honouring Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.run_state import RunStatus
from bot.ledger.chain import Entry
from bot.ledger.checkpoints import make_checkpoint
from bot.ledger.clock import utc_now
from bot.ledger.store import LedgerStore
from bot.loaded_run import LoadedRun
from bot.run_service import RunService
from bot.slack.blocks import entry_blocks, entry_text, fit, root_message, step_card
from bot.slack.delivery import process_owner
from bot.slack.foreground import Foreground

logger = logging.getLogger("runbook-bot.outbox")
STEP_KINDS_WITH_CARDS = "step.presented"
RETRY_DELAYS = (0.25, 0.5, 1, 2, 5, 10, 30)  # seconds; slack_sdk has retried each call already


LEASE_SECONDS = 30.0  # renewed before every post
# Runs delivered at once. Every kicked run waits for acks to pause; letting only a few through
# at each pause keeps their ledger reads and leases from queueing in front of the next acks.
MAX_DELIVERIES = 8
REDRAWN_KEPT = 10_000  # runs remembered as redrawn: a bound on memory, far above live runs
ROOT_SEARCH_PAGES = 10  # of 200 messages: a lost root is looked for this far back, no further


class LeaseBusy(Exception):
    """Another bot process holds the run's lease."""


def root_text(run_id: str) -> str:
    """How the root message's text begins: what finds it again after a crash."""
    return f"Run {run_id}"


def marker(entry: Entry) -> str:
    return f"`#{entry.seq}` `{entry.hash[:8]}`"


@dataclass
class Outbox:
    store: LedgerStore
    delivery: Any  # DeliveryStore
    client: AsyncWebClient
    service: RunService
    on_posted: Callable[[int], Awaitable[None]] | None = None
    foreground: Foreground = field(default_factory=Foreground)  # acks go first
    _locks: dict[str, tuple[asyncio.Lock, int]] = field(default_factory=dict)  # run -> lock, users
    _slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_DELIVERIES))
    _waiting: set[str] = field(default_factory=set)  # runs with a delivery not yet begun
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Runs whose cards were all redrawn since this process started, the latest REDRAWN_KEPT.
    _redrawn: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _unredrawn: dict[str, set[str]] = field(default_factory=dict)  # run -> steps to redraw
    owner: str = field(default_factory=process_owner)

    def kick(self, run_id: str) -> None:
        """Deliver in the background; the caller (a Slack listener) has already acked. A run
        with a delivery still waiting to begin needs no second one: that one reads the run's
        entries when it begins, so it will find this caller's too."""
        if run_id in self._waiting:
            return
        self._waiting.add(run_id)
        task = asyncio.create_task(self._deliver_with_retries(run_id))
        self._tasks.add(task)
        task.add_done_callback(partial(self._delivery_ended, run_id))

    def _delivery_ended(self, run_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():  # it may not have begun: the next kick must not be ignored
            self._waiting.discard(run_id)

    def pending(self) -> list[asyncio.Task[None]]:
        return list(self._tasks)

    async def drain(self) -> None:
        """Wait for the deliveries under way (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver_with_retries(self, run_id: str) -> None:
        busy_until = asyncio.get_running_loop().time() + LEASE_SECONDS * 2
        delays = iter((*RETRY_DELAYS, None))
        while True:
            try:
                await self.sync(run_id)
                return
            except LeaseBusy:  # another bot process is posting this run; ours come after
                if asyncio.get_running_loop().time() > busy_until:
                    logger.warning(
                        "run %s stayed leased by another process; will retry later", run_id
                    )
                    return
                await asyncio.sleep(0.1)
                continue
            except Exception as exc:  # logged with traceback; delivery resumes on the next kick too
                logger.exception("posting run %s to Slack failed", run_id, exc_info=exc)
                delay = next(delays)
                if delay is None:
                    return
                await asyncio.sleep(delay)

    async def resume_all(self) -> None:
        """After a restart: bring active runs' threads and cards up to date, and finish posting
        ended runs that still lack entries. Not every run in history: start-up stays short."""
        active = [run["run_id"] for run in await self.store.runs(status="active")]
        for run_id in dict.fromkeys([*active, *await self.delivery.runs_with_unsent()]):
            self.kick(run_id)

    async def sync(self, run_id: str) -> None:
        """Bring the run's thread and cards up to date, once acks in flight are answered."""
        async with self._run_lock(run_id), self._slots:
            await self.foreground.wait_turn()
            self._waiting.discard(run_id)  # from here on, new entries need a new delivery
            if not await self.delivery.lease(run_id, self.owner, LEASE_SECONDS):
                raise LeaseBusy(run_id)
            try:
                await self._sync(run_id)
            finally:
                await self.delivery.release(run_id, self.owner)

    @asynccontextmanager
    async def _run_lock(self, run_id: str) -> AsyncIterator[None]:
        """One delivery of a run at a time; the lock goes when nobody holds or awaits it, so
        a long-lived bot keeps no lock per run it ever posted."""
        lock, users = self._locks.get(run_id, (asyncio.Lock(), 0))
        self._locks[run_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[run_id]
            if users > 1:
                self._locks[run_id] = (lock, users - 1)
            else:
                del self._locks[run_id]

    async def _sync(self, run_id: str) -> None:
        entries = await self.store.read(run_id=run_id)
        loaded = await self.service.from_entries(run_id, entries)
        thread = await self.delivery.thread(run_id)
        if thread is None:
            thread = await self._root(loaded, entries)
        channel, root_ts = thread
        posts = await self.delivery.posts(run_id)
        # Cards whose redraw failed last time (Slack refused after its retries) go again.
        touched: set[str] = set(self._unredrawn.get(run_id, ()))
        presented: dict[str, Entry] = {}
        # The first sync of a run in this process redraws every card: a crash between a
        # post and its card's redraw must not leave a card without its buttons, nor an ended
        # run's cards and root with buttons (start-up brings back ended runs left unsettled).
        # A run that ends in this process was synced while active, so only its changed cards
        # are redrawn as it ends, or when an entry reaches it later.
        first = run_id not in self._redrawn
        for entry in entries:
            step_id = entry.data.get("step")
            if entry.kind == STEP_KINDS_WITH_CARDS:
                presented[str(step_id)] = entry
            state = posts.get(entry.seq)
            if state is not None and state[0] == "sent":
                if first and isinstance(step_id, str):
                    if entry.kind == STEP_KINDS_WITH_CARDS and state[1] is not None:
                        await self.delivery.set_card(run_id, step_id, state[1])
                    touched.add(step_id)
                continue
            ts = await self._find(channel, root_ts, entry) if state is not None else None
            if ts is None:
                if not await self.delivery.lease(run_id, self.owner, LEASE_SECONDS):
                    raise LeaseBusy(run_id)  # ours expired and was taken over: stop here
                await self.foreground.wait_turn()  # each post yields to acks, not just the first
                await self.delivery.mark_sending(run_id, entry.seq)
                ts = await self._post(channel, root_ts, entry, loaded)
            await self.delivery.mark_sent(run_id, entry.seq, ts)
            if isinstance(step_id, str):
                if entry.kind == STEP_KINDS_WITH_CARDS:
                    await self.delivery.set_card(run_id, step_id, ts)
                touched.add(step_id)
            if self.on_posted is not None:
                await self.on_posted(1)
        if touched or first:
            self._unredrawn[run_id] = touched
            await self._refresh(
                loaded, channel, root_ts, {s: presented[s] for s in touched if s in presented}
            )
        self._unredrawn.pop(run_id, None)
        self._redrawn[run_id] = None
        self._redrawn.move_to_end(run_id)
        if len(self._redrawn) > REDRAWN_KEPT:  # an evicted run gets all its cards redrawn again
            self._redrawn.popitem(last=False)
        if loaded.state.status is not RunStatus.ACTIVE:
            await self.delivery.settle(run_id)

    async def _root(self, loaded: LoadedRun, entries: list[Entry]) -> tuple[str, str]:
        """Post the run's root message once. When an earlier process began to post it and
        stopped before it learnt the ts, the channel is searched for it first."""
        run_id, channel = loaded.state.run_id, loaded.state.channel
        found = None
        if not await self.delivery.begin_thread(run_id, channel):
            found = await self._find_root(channel, run_id, started=entries[0].ts)
        if found is None:
            posted = await self.client.chat_postMessage(
                channel=channel,
                text=f"{root_text(run_id)}: {loaded.runbook.title}",
                blocks=root_message(loaded.state, loaded.runbook.title),
            )
            found = (str(posted["channel"]), str(posted["ts"]))
        await self.delivery.set_thread(run_id, *found)
        return found

    async def _find_root(
        self, channel: str, run_id: str, *, started: str
    ) -> tuple[str, str] | None:
        """A root message that may have reached Slack before a crash, among the channel's
        messages since the run began at `started` (a few minutes' leeway for clocks)."""
        oldest = datetime.fromisoformat(started).timestamp() - 300
        cursor = ""
        for _ in range(ROOT_SEARCH_PAGES):
            try:
                page = await self.client.conversations_history(
                    channel=channel, oldest=f"{oldest:.6f}", limit=200, cursor=cursor or None
                )
            except SlackApiError:
                return None
            messages: list[dict[str, Any]] = page.get("messages", [])
            for message in messages:
                text = str(message.get("text", ""))
                if message.get("thread_ts") in (None, message.get("ts")) and (
                    text == root_text(run_id) or text.startswith(f"{root_text(run_id)}:")
                ):
                    return channel, str(message["ts"])
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not page.get("has_more") or not cursor:
                return None
        return None

    async def _post(self, channel: str, root_ts: str, entry: Entry, loaded: LoadedRun) -> str:
        text = entry_text(entry)
        blocks = entry_blocks(entry)
        if entry.kind in ("run.completed", "run.aborted"):
            size, head = await self.store.head()
            checkpoint = make_checkpoint(size, head, utc_now(), None)
            text += f"\nLedger checkpoint: {checkpoint.size} entries, head sha256:`{checkpoint.head_hash}`"
            blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        posted = await self.client.chat_postMessage(
            channel=channel, thread_ts=root_ts, text=text, blocks=blocks
        )
        return str(posted["ts"])

    async def _find(self, channel: str, root_ts: str, entry: Entry) -> str | None:
        """A post that may have reached Slack before a crash: look for its marker."""
        try:
            replies = await self.client.conversations_replies(
                channel=channel, ts=root_ts, limit=1000
            )
        except SlackApiError:
            return None
        messages: list[dict[str, Any]] = replies.get("messages", [])
        for message in messages:
            if str(message.get("text", "")).startswith(marker(entry)):
                return str(message["ts"])
        return None

    async def _refresh(
        self, loaded: LoadedRun, channel: str, root_ts: str, steps: dict[str, Entry]
    ) -> None:
        """Redraw the cards that changed (buttons go once decided), and the root at the end.
        `loaded` is the state as of the entries just posted; later entries come with their own
        delivery, which redraws their cards again."""
        run_id = loaded.state.run_id
        for step_id, entry in steps.items():
            ts = await self.delivery.card(run_id, step_id)
            if ts is None:
                continue
            card = step_card(loaded.state, loaded.state.step(step_id), loaded.runbook.step(step_id))
            # The card is the thread message of its step.presented entry: keep that entry's line.
            blocks = fit([*entry_blocks(entry), *card])
            await self.foreground.wait_turn()
            await self.client.chat_update(
                channel=channel, ts=ts, text=entry_text(entry), blocks=blocks
            )
        if loaded.state.status is not RunStatus.ACTIVE:  # the Abort button goes
            await self.foreground.wait_turn()
            await self.client.chat_update(
                channel=channel,
                ts=root_ts,
                text=root_text(run_id),
                blocks=root_message(loaded.state, loaded.runbook.title),
            )
