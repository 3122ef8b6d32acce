"""Start runs and apply decisions. State is folded from the ledger; every decision is a
conditional append on the run's version, so of two racing clicks exactly one takes effect.
No Slack imports: Slack, the terminal drill and tests all come through here. Hook steps (run,
roll back, plan, recover after a restart) are in run_hooks.py, mixed in."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets as token
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot import catalog_service
from bot.domain import hook_commands as hc
from bot.domain import run_commands as rc
from bot.domain.policy import Seen
from bot.domain.run_commands import Context, Pending
from bot.domain.run_state import fold
from bot.domain.runbook import RolesFile, Runbook
from bot.domain.validation import validate_runbook
from bot.domain.versions import Ref, VersionInfo, content_hash
from bot.errors import ConflictError, UserError
from bot.hooks.registry import Registry
from bot.ledger.chain import Entry, NewEvent
from bot.ledger.store import LedgerStore
from bot.loaded_run import LoadedRun, Unfolded, event_of
from bot.run_hooks import HookSteps, Poster, RoleResolver

logger = logging.getLogger("runbook-bot.runs")
ATTEMPTS = 12
KNOWN_RUNS = 4096  # folded states kept for the next decision; a run's state is a few KB


def utc_now() -> datetime:
    return datetime.now(UTC)


def roles_from_file(roles: RolesFile) -> RoleResolver:
    """Roles by user id from roles.yml (Slack user groups are resolved by the Slack layer)."""

    async def resolve(actor: str) -> set[str]:
        return {name for name, role in roles.roles.items() if actor in role.users}

    return resolve


@dataclass
class RunService(HookSteps):
    store: LedgerStore
    registry: Registry
    resolve_roles: RoleResolver
    clock: Callable[[], datetime] = utc_now
    post: Poster | None = None
    # Where slow follow-up work (dry-run plans) goes so a Slack ack never waits for it; None runs
    # it inline (the terminal drill, tests). `on_change` hears of entries appended that way.
    defer: Callable[[Coroutine[Any, Any, None]], None] | None = None
    on_change: Callable[[str], None] | None = None
    _secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    _runbooks: dict[str, Runbook] = field(default_factory=dict)  # by sha256: versions never change
    _versions: dict[tuple[str, int], tuple[VersionInfo, Runbook, dict[str, str]]] = field(
        default_factory=dict
    )
    _hooks: dict[tuple[str, str], asyncio.Task[hc.HookOutcome]] = field(default_factory=dict)
    # The last state this process saw of each recent run. Only a decision's first attempt uses
    # it, and only an append that succeeds on its version proves it current; anything else is
    # decided again on a fresh read. It spares a click the ledger read before its append.
    _known: OrderedDict[str, LoadedRun | Unfolded] = field(default_factory=OrderedDict)

    # ---- loading ----------------------------------------------------------------------

    async def _pinned(self, ref: Ref) -> tuple[VersionInfo, Runbook, dict[str, str]]:
        if ref.number is not None and (ref.name, ref.number) in self._versions:
            # A published version never changes, so every click on a run needs no lookup.
            return self._versions[ref.name, ref.number]
        version = await catalog_service.find(self.store, ref)
        pinned = await catalog_service.pinned_hooks(self.store, version)
        runbook = self._runbooks.get(version.sha256)
        if runbook is None:
            parsed = validate_runbook(version.short, version.source)
            if parsed.model is None:  # this bot checks something the publishing one did not
                raise UserError(
                    f"{version.short} does not pass this bot's checks any more ({parsed.problems[0]}); "
                    "fix the runbook and publish it again."
                )
            if content_hash(parsed.model, pinned) != version.sha256:
                raise UserError(
                    f"{version.short} no longer matches its hash; the database was changed. Run `runbook-bot ledger verify`."
                )
            runbook = self._runbooks[version.sha256] = parsed.model
        self._versions[version.name, version.number] = (version, runbook, pinned)
        return version, runbook, pinned

    async def pinned_runbook(self, ref: Ref) -> Runbook:
        """The runbook of a published version, checked against its hash."""
        return (await self._pinned(ref))[1]

    async def titles(self, versions: list[VersionInfo]) -> dict[str, str]:
        """Each version's runbook title, for the catalog; a version this bot refuses to run
        shows its name (starting it then says why)."""
        titles = {}
        for version in versions:
            try:
                runbook = await self.pinned_runbook(Ref(version.name, number=version.number))
            except UserError:
                continue
            titles[version.name] = runbook.title
        return titles

    async def load(self, run_id: str) -> LoadedRun:
        """The run as the ledger has it now."""
        return await self.from_entries(run_id, await self.store.read(run_id=run_id))

    async def from_entries(self, run_id: str, entries: list[Entry]) -> LoadedRun:
        """The run folded from `entries`, all of the run's entries as just read."""
        if not entries:
            raise UserError(f"There is no run {run_id!r}; `/runbook status` lists the active ones.")
        state = fold(run_id, [event_of(e) for e in entries])
        version, runbook, pinned = await self._pinned(Ref(state.runbook, number=state.number))
        loaded = LoadedRun(state, runbook, version, pinned)
        self._remember(loaded)
        return loaded

    async def current(self, run_id: str) -> LoadedRun:
        """The run as this process last saw it, read afresh only when it has not seen it. For
        what never changes during a run (its pinned version, its steps' choices)."""
        known = self._known_run(run_id)
        return known if known is not None else await self.load(run_id)

    def _known_run(self, run_id: str) -> LoadedRun | None:
        known = self._known.get(run_id)
        if isinstance(known, Unfolded):
            known = self._known[run_id] = known.fold()
        return known

    def _remember(self, loaded: LoadedRun | Unfolded) -> None:
        run_id = loaded.run_id
        known = self._known.get(run_id)
        if known is not None and known.run_version > loaded.run_version:
            return  # a read that started before our own append finished after it
        self._known[run_id] = loaded
        self._known.move_to_end(run_id)
        while len(self._known) > KNOWN_RUNS:
            self._known.popitem(last=False)

    def _advance(self, loaded: LoadedRun, entries: list[Entry]) -> None:
        """Our own appends, to be folded onto the state they were decided from when the next
        decision needs them. Usually it does not: the outbox reads and folds the run right
        after the ack, and its state takes this one's place."""
        self._remember(Unfolded(loaded, entries))

    def context(self, loaded: LoadedRun) -> Context:
        return Context(loaded.runbook, self.clock(), self._secrets.get(loaded.state.run_id, {}))

    # ---- the append path --------------------------------------------------------------

    async def _append(self, run_id: str, base_version: int, pending: list[Pending]) -> list[Entry]:
        events = [
            NewEvent(
                p.kind.value, p.actor, p.payload, run_id=run_id, run_version=base_version + i + 1
            )
            for i, p in enumerate(pending)
        ]
        return await self.store.append(events)

    async def decide(
        self, run_id: str, command: Callable[[LoadedRun, Context], list[Pending]]
    ) -> list[Entry]:
        """Fold, decide, append on the version we decided from; on a race, decide again.

        The first attempt decides from the state this process last saw, if any. That state is
        trusted only when the append on its version succeeds; a refusal, a no-op or a conflict
        is decided again from a fresh read (another replica may have moved the run on)."""
        for attempt in range(ATTEMPTS):
            known = self._known_run(run_id) if attempt == 0 else None
            loaded = known if known is not None else await self.load(run_id)
            try:
                pending = command(loaded, self.context(loaded))
            except UserError:
                if known is None:
                    raise
                continue
            if not pending:
                if known is None:
                    return []
                continue
            try:
                entries = await self._append(run_id, loaded.state.version, pending)
            except ConflictError:
                # Someone decided first; the fresh state may now refuse this command. A little
                # jitter keeps a crowd of identical clicks from colliding again in lockstep.
                self._known.pop(run_id, None)
                if known is None:
                    await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
                continue
            self._advance(loaded, entries)
            return [*entries, *await self._follow_up(run_id, entries)]
        raise UserError(f"Run {run_id} is too busy right now; try again.")

    async def _follow_up(self, run_id: str, entries: list[Entry]) -> list[Entry]:
        """Dry-run plans, inline or deferred past the caller's acknowledgement."""
        if self.defer is None:
            return await self._plan(run_id, entries)

        async def later() -> None:
            if await self._plan(run_id, entries) and self.on_change is not None:
                self.on_change(run_id)

        self.defer(later())
        return []

    # ---- commands ---------------------------------------------------------------------

    async def start(
        self, ref: Ref, given: Mapping[str, str], *, requester: str, channel: str
    ) -> tuple[str, list[Entry]]:
        version, runbook, _ = await self._pinned(ref)
        for _ in range(ATTEMPTS):
            run_id = f"run-{token.token_hex(4)}"
            pending, secret_values = rc.start(
                run_id=run_id,
                runbook=runbook,
                number=version.number,
                sha256=version.sha256,
                requester=requester,
                channel=channel,
                given=given,
                now=self.clock(),
            )
            try:
                entries = await self._append(run_id, 0, pending)
            except ConflictError:
                continue  # the random id was taken
            self._secrets[run_id] = secret_values
            await self.from_entries(run_id, entries)  # remembered for the first click
            return run_id, [*entries, *await self._follow_up(run_id, entries)]
        raise UserError("Could not allocate a run id; try again.")

    async def done(self, run_id: str, step: str, *, actor: str, note: str = "") -> list[Entry]:
        return await self.decide(
            run_id, lambda r, c: rc.mark_done(r.state, step, actor=actor, note=note, ctx=c)
        )

    async def skip(self, run_id: str, step: str, *, actor: str, reason: str) -> list[Entry]:
        return await self.decide(
            run_id, lambda r, c: rc.skip(r.state, step, actor=actor, reason=reason, ctx=c)
        )

    async def choose(self, run_id: str, step: str, *, actor: str, label: str) -> list[Entry]:
        return await self.decide(
            run_id, lambda r, c: rc.choose(r.state, step, actor=actor, label=label, ctx=c)
        )

    async def approve(
        self, run_id: str, step: str, *, actor: str, seen: Seen | None = None
    ) -> list[Entry]:
        roles = await self.resolve_roles(actor)
        return await self.decide(
            run_id,
            lambda r, c: rc.approve(
                r.state, step, actor=actor, actor_roles=roles, seen=seen, ctx=c
            ),
        )

    async def deny(self, run_id: str, step: str, *, actor: str, reason: str) -> list[Entry]:
        roles = await self.resolve_roles(actor)
        return await self.decide(
            run_id,
            lambda r, c: rc.deny(
                r.state, step, actor=actor, actor_roles=roles, reason=reason, ctx=c
            ),
        )

    async def request_again(self, run_id: str, step: str, *, actor: str) -> list[Entry]:
        return await self.decide(
            run_id, lambda r, c: rc.request_again(r.state, step, actor=actor, ctx=c)
        )

    async def amend(self, run_id: str, step: str, *, actor: str, note: str) -> list[Entry]:
        return await self.decide(
            run_id, lambda r, c: rc.amend_note(r.state, step, actor=actor, note=note, ctx=c)
        )

    async def abort(self, run_id: str, *, actor: str, reason: str) -> list[Entry]:
        entries = await self.decide(
            run_id, lambda r, c: rc.abort(r.state, actor=actor, reason=reason, ctx=c)
        )
        for (hook_run, _), task in list(self._hooks.items()):
            if hook_run == run_id:
                task.cancel()  # the abort is recorded; the hook's outcome will change nothing
        return entries
