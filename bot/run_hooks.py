"""The hook half of the run service: run a hook step and record its outcome, roll it back,
plan it for approvers, and pick up the hooks a restart interrupted. RunService mixes it in;
every outcome is recorded through the service's `decide`, like any other decision."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.domain import hook_commands as hc
from bot.domain.run_commands import CommandRefused, Context, Pending
from bot.domain.run_params import REDACTED, rendered_args
from bot.domain.run_state import StepStatus
from bot.hooks.api import HookContext
from bot.hooks.executor import DEFAULT_TIMEOUT_S, execute
from bot.hooks.registry import Registry
from bot.ledger.chain import Entry
from bot.ledger.store import LedgerStore
from bot.loaded_run import LoadedRun
from bot.logs import log_context

logger = logging.getLogger("runbook-bot.runs")
RoleResolver = Callable[[str], Awaitable[set[str]]]
Poster = Callable[[str, str], Awaitable[Any]]
Command = Callable[[LoadedRun, Context], list[Pending]]


class HookSteps:
    """What it needs of the service it is mixed into is declared here; RunService has it."""

    store: LedgerStore
    registry: Registry
    resolve_roles: RoleResolver
    post: Poster | None
    _secrets: dict[str, dict[str, str]]
    _hooks: dict[tuple[str, str], asyncio.Task[hc.HookOutcome]]

    async def load(self, run_id: str) -> LoadedRun:
        raise NotImplementedError

    async def decide(self, run_id: str, command: Command) -> list[Entry]:
        raise NotImplementedError

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
