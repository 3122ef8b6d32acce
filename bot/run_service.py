"""Start runs and apply decisions. State is folded from the ledger; every decision is a
conditional append on the run's version, so of two racing clicks exactly one takes effect.
No Slack imports: Slack, the terminal drill and tests all come through here."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets as token
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bot import catalog_service
from bot.domain import hook_commands as hc
from bot.domain import run_commands as rc
from bot.domain.policy import Seen
from bot.domain.run_commands import CommandRefused, Context, Pending
from bot.domain.run_params import REDACTED, rendered_args
from bot.domain.run_state import Event, RunState, StepStatus, apply, fold
from bot.domain.runbook import RolesFile, Runbook
from bot.domain.validation import validate_runbook
from bot.domain.versions import Ref, VersionInfo, content_hash
from bot.errors import ConflictError, UserError
from bot.hooks.api import HookContext
from bot.hooks.executor import DEFAULT_TIMEOUT_S, execute
from bot.hooks.registry import Registry
from bot.ledger.chain import Entry, NewEvent
from bot.ledger.store import LedgerStore
from bot.logs import log_context

logger = logging.getLogger("runbook-bot.runs")
ATTEMPTS = 12
KNOWN_RUNS = 4096  # folded states kept for the next decision; a run's state is a few KB
RoleResolver = Callable[[str], Awaitable[set[str]]]
Poster = Callable[[str, str], Awaitable[Any]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def roles_from_file(roles: RolesFile) -> RoleResolver:
    """Roles by user id from roles.yml (Slack user groups are resolved by the Slack layer)."""

    async def resolve(actor: str) -> set[str]:
        return {name for name, role in roles.roles.items() if actor in role.users}

    return resolve


@dataclass(frozen=True)
class LoadedRun:
    state: RunState
    runbook: Runbook
    version: VersionInfo
    pinned: dict[str, str]

    @property
    def run_id(self) -> str:
        return self.state.run_id

    @property
    def run_version(self) -> int:
        return self.state.version


@dataclass(frozen=True)
class Unfolded:
    """A run as this process decided from it, and the entries it appended after: folding
    them waits until a decision needs the result."""

    loaded: LoadedRun
    entries: list[Entry]

    @property
    def run_id(self) -> str:
        return self.loaded.state.run_id

    @property
    def run_version(self) -> int:
        return self.entries[-1].run_version or 0

    def fold(self) -> LoadedRun:
        state = self.loaded.state
        for entry in self.entries:
            state = apply(state, _event(entry))
        return replace(self.loaded, state=state)


@dataclass
class RunService:
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
        state = fold(run_id, [_event(e) for e in entries])
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

    async def _plan(self, run_id: str, entries: list[Entry]) -> list[Entry]:
        """When a guarded hook step starts waiting for approval, ask the hook for a dry-run
        plan (if it offers them) so approvers see what it would do."""
        requested = [
            e for e in entries if e.kind == "approval.requested" and not e.data.get("again")
        ]
        if not requested:
            return []
        step_id = str(requested[-1].data["step"])
        loaded = await self.load(run_id)
        step = loaded.runbook.step(step_id)
        spec = self.registry.get(step.hook) if step.hook else None
        if spec is None or not spec.plans or loaded.pinned.get(spec.name) != spec.source_sha256:
            return []
        run_secrets = self._secrets.get(run_id, {})
        context = HookContext(
            run_id=run_id, step_id=step_id, idempotency_key=f"{run_id}:{step_id}:plan", dry_run=True
        )
        args = rendered_args(loaded.state, step.with_, run_secrets)
        outcome = await execute(spec, args, context, limit_s=hc.PLAN_TIMEOUT_S, secrets=run_secrets)
        return await self.decide(
            run_id, lambda r, c: hc.record_plan(r.state, step_id, outcome, ctx=c)
        )

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

    # ---- hooks ------------------------------------------------------------------------

    def _check_runnable(self, loaded: LoadedRun, step_id: str, hook_name: str) -> None:
        """The reviewed code is the code that runs; secrets must still be known."""
        spec = self.registry.get(hook_name)
        pinned = loaded.pinned.get(hook_name)
        if spec is None:
            raise CommandRefused(
                f"Hook {hook_name!r} is not loaded in this bot; check runbooks/hooks/ and the bot's log."
            )
        if pinned is None:
            raise CommandRefused(
                f"{loaded.version.short} did not pin hook {hook_name!r}; publish the runbook again."
            )
        if spec.source_sha256 != pinned:
            raise CommandRefused(
                f"Hook {hook_name!r} changed since {loaded.version.short} was published "
                f"(pinned sha256:{pinned[:12]}, now sha256:{spec.source_sha256[:12]}); "
                "publish again so the new code is reviewed and pinned."
            )
        lost = [
            n
            for n, p in loaded.runbook.params.items()
            if p.secret
            and loaded.state.params.get(n) == REDACTED
            and n not in self._secrets.get(loaded.state.run_id, {})
        ]
        if lost:
            raise CommandRefused(
                f"The secret param {', '.join(lost)} is not known after the bot restarted (secrets are never stored); "
                "abort this run and start a new one."
            )

    async def begin_hook(self, run_id: str, step_id: str, *, actor: str) -> list[Entry]:
        """Record that the hook starts (after checking its pinned code); fast, so Slack can be
        acknowledged right after. `complete_hook` then runs it."""

        def start(loaded: LoadedRun, ctx: Context) -> list[Pending]:
            pending = hc.start_hook(loaded.state, step_id, actor=actor, ctx=ctx)
            hook_name = loaded.runbook.step(step_id).hook
            assert hook_name is not None
            self._check_runnable(loaded, step_id, hook_name)
            return pending

        return await self.decide(run_id, start)

    async def complete_hook(self, run_id: str, step_id: str, attempt: int) -> list[Entry]:
        return await self._execute(run_id, step_id, attempt)

    async def run_hook(self, run_id: str, step_id: str, *, actor: str) -> list[Entry]:
        """Record the start, run the hook, record the outcome. Returns every entry appended."""
        started = await self.begin_hook(run_id, step_id, actor=actor)
        if not started:
            return []
        attempt = int(started[0].data["attempt"])
        return [*started, *await self.complete_hook(run_id, step_id, attempt)]

    async def _execute(self, run_id: str, step_id: str, attempt: int) -> list[Entry]:
        loaded = await self.load(run_id)
        step = loaded.runbook.step(step_id)
        assert step.hook is not None
        spec = self.registry.get(step.hook)
        assert spec is not None
        run_secrets = self._secrets.get(run_id, {})
        context = HookContext(
            run_id=run_id,
            step_id=step_id,
            idempotency_key=hc.idempotency_key(loaded.state, step_id, attempt),
            post=self.post,
        )
        args = rendered_args(loaded.state, step.with_, run_secrets)
        with log_context(run_id=run_id, step_id=step_id):  # the hook's own log lines name them too
            logger.info("running hook %s, attempt %d", step.hook, attempt)
            limit = step.timeout or DEFAULT_TIMEOUT_S
            task = asyncio.create_task(
                execute(spec, args, context, limit_s=limit, secrets=run_secrets)
            )
        self._hooks[(run_id, step_id)] = task
        try:
            outcome = await task
        except asyncio.CancelledError:
            logger.info("hook %s of %s was cancelled by an abort", step.hook, run_id)
            return []
        finally:
            self._hooks.pop((run_id, step_id), None)
        return await self.decide(
            run_id, lambda r, c: hc.finish_hook(r.state, step_id, attempt, outcome, ctx=c)
        )

    async def rollback(self, run_id: str, step_id: str, *, actor: str) -> list[Entry]:
        roles = await self.resolve_roles(actor)
        started = await self.decide(
            run_id,
            lambda r, c: hc.start_rollback(r.state, step_id, actor=actor, actor_roles=roles, ctx=c),
        )
        if not started or started[0].kind != "rollback.started":
            return started
        loaded = await self.load(run_id)
        rollback = loaded.runbook.step(step_id).rollback
        assert rollback is not None
        spec = self.registry.get(rollback.hook)
        if spec is None or loaded.pinned.get(rollback.hook) != spec.source_sha256:
            outcome = hc.HookOutcome(
                ok=False,
                error=f"rollback hook {rollback.hook!r} is missing or changed since publishing",
            )
        else:
            run_secrets = self._secrets.get(run_id, {})
            args = rendered_args(loaded.state, rollback.with_, run_secrets)
            context = HookContext(
                run_id=run_id,
                step_id=step_id,
                idempotency_key=f"{run_id}:{step_id}:rollback",
                post=self.post,
            )
            outcome = await execute(
                spec,
                args,
                context,
                limit_s=rollback.timeout or DEFAULT_TIMEOUT_S,
                secrets=run_secrets,
            )
        finished = await self.decide(
            run_id, lambda r, c: hc.finish_rollback(r.state, step_id, outcome, ctx=c)
        )
        return [*started, *finished]

    # ---- after a restart --------------------------------------------------------------

    async def recover(self) -> list[Entry]:
        """For each active run (from the runs index, not the whole history): a hook that was
        running when the bot stopped is retried with the same idempotency key if the step is
        idempotent, and otherwise put to a person."""
        appended: list[Entry] = []
        for run in await self.store.runs(status="active"):
            run_id = run["run_id"]
            loaded = await self.load(run_id)
            current = loaded.state.current
            if current is None or current.status is not StepStatus.RUNNING:
                continue
            step = loaded.runbook.step(current.id)
            if step.idempotent:
                logger.info("retrying idempotent hook %s of %s after a restart", step.hook, run_id)
                appended += await self._execute(run_id, current.id, current.attempts)
            else:
                appended += await self.decide(run_id, lambda r, c: hc.interrupted(r.state, c))
        return appended


def _parse_ts(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _event(entry: Entry) -> Event:
    return Event(entry.kind, entry.actor, entry.data, _parse_ts(entry.ts), entry.run_version or 0)
