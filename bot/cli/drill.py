"""`runbook-bot run REF [key=value ...] --as USER`: a drill in the terminal.

Same engine and ledger as Slack (channel "local"). Decisions are typed one per line, so a
drill can be scripted by piping them in. `approve as U0IC00001` acts as another person.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from bot.catalog import HOOKS_DIR, load_roles
from bot.cli.common import acting_person, opened_store
from bot.config import Settings
from bot.domain.run_state import RunStatus, StepStatus
from bot.domain.runbook import StepKind
from bot.domain.versions import parse_ref
from bot.errors import UserError
from bot.hooks.registry import load_registry
from bot.ledger.chain import Entry
from bot.ledger.export import describe, key_values
from bot.loaded_run import LoadedRun
from bot.run_service import RunService, roles_from_file

HELP = """commands:
  done [NOTE]            mark a checklist step done
  skip REASON            skip the current step
  choose N|LABEL         answer a decision step
  run                    run the hook (again, after a failure)
  rollback [as USER]     run the step's rollback hook
  approve [as USER]      approve a guarded step
  deny REASON [as USER]  deny it
  ask                    ask for approval again (after it expired)
  note STEP TEXT         correct the note of a finished step
  abort REASON           stop the run
  status                 every step, who finished it and when
  help | quit"""

EXIT_COMPLETED, EXIT_ABORTED, EXIT_LEFT_ACTIVE = 0, 3, 4


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"{pair!r} is not key=value; write for example service=api.")
        params[key] = value
    return params


def split_as(words: list[str], default: str) -> tuple[list[str], str]:
    """`deny too risky as U2` -> (["too", "risky"], "U2")."""
    if len(words) >= 2 and words[-2] == "as":
        return words[:-2], words[-1]
    return words, default


def print_entries(entries: list[Entry], out: TextIO) -> None:
    for entry in entries:
        print(f"  #{entry.seq} {entry.actor}: {describe(entry)}  [{entry.hash[:8]}]", file=out)


def print_steps(loaded: LoadedRun, out: TextIO) -> None:
    """`status`: every step of the run, who finished it and when (the card shows the current
    one again before the next prompt anyway)."""
    state = loaded.state
    print(
        f"\nrun {state.run_id} of {loaded.version.short}, requested by {state.requester}", file=out
    )
    for number, step in enumerate(state.steps, 1):
        line = f"  [{number}/{len(state.steps)}] {step.id}: {step.title}, {step.status.value}"
        if step.by:
            line += f" by {step.by}"
        if step.at is not None:
            line += f" at {step.at.strftime('%H:%M:%S')}"
        if step.choice:
            line += f", chose {step.choice!r}"
        if step.note:
            line += f" ({step.note})"
        print(line, file=out)


def print_card(
    loaded: LoadedRun, out: TextIO, approvers: dict[str, list[str]] | None = None
) -> None:
    state = loaded.state
    step = state.current
    if step is None:
        return
    spec = loaded.runbook.step(step.id)
    number = state.index(step.id) + 1
    kind = f"hook {spec.hook}" if spec.hook else spec.kind.value
    print(f"\n[{number}/{len(state.steps)}] {step.title}  ({kind}, {step.status.value})", file=out)
    if step.text:
        print(f"    {step.text}", file=out)
    if step.args:
        print(f"    with: {key_values(step.args)}", file=out)
    if spec.guard is not None:
        who = ", ".join(a.actor for a in step.approvals) or "nobody yet"
        print(
            f"    guard: {spec.guard.quorum} of {', '.join(spec.guard.approvers)}; approved by {who}",
            file=out,
        )
        if step.plan is not None:
            print(f"    plan: {step.plan}", file=out)
        if step.status is StepStatus.AWAITING_APPROVAL and approvers:
            excluded = set() if spec.guard.allow_requester else {state.requester}
            eligible = {u for role in spec.guard.approvers for u in approvers.get(role, [])}
            if eligible - excluded:
                names = ", ".join(sorted(eligible - excluded))
                print(f"    can approve: {names}  (type: approve as USER)", file=out)
    if step.error:
        print(f"    error: {step.error}", file=out)
    if spec.kind is StepKind.DECISION:
        for i, choice in enumerate(spec.choices or [], 1):
            print(f"    {i}. {choice.label}", file=out)
    print(f"    > {_offer(step.status, spec.kind)}", file=out)


def _offer(status: StepStatus, kind: StepKind) -> str:
    if status is StepStatus.AWAITING_APPROVAL:
        return "approve [as USER] | deny REASON [as USER] | skip REASON | abort REASON"
    if status in (StepStatus.FAILED, StepStatus.INTERRUPTED):
        return "run (retry) | rollback | skip REASON | abort REASON"
    if status is StepStatus.DENIED:
        return "skip REASON | abort REASON"
    action = {
        StepKind.CHECKLIST: "done [NOTE]",
        StepKind.HOOK: "run",
        StepKind.DECISION: "choose N",
    }[kind]
    return f"{action} | skip REASON | abort REASON"


async def _dispatch(
    service: RunService,
    run_id: str,
    actor: str,
    line: str,
    out: TextIO,
    approvers: dict[str, list[str]],
) -> bool:
    """Apply one typed command; False when the person wants to stop."""
    words = line.split()
    if not words:
        return True
    verb, rest = words[0].lower(), words[1:]
    loaded = await service.load(run_id)
    current = loaded.state.current
    step = current.id if current else ""
    action: Callable[[], Awaitable[list[Entry]]] | None = None
    if verb in {"quit", "exit"}:
        return False
    if verb == "help":
        print(HELP, file=out)
    elif verb == "status":
        print_steps(loaded, out)
    elif verb == "done":
        action = lambda: service.done(run_id, step, actor=actor, note=" ".join(rest))  # noqa: E731
    elif verb == "skip":
        action = lambda: service.skip(run_id, step, actor=actor, reason=" ".join(rest))  # noqa: E731
    elif verb == "choose" and not rest:
        print("! Say which: choose N (the number shown) or choose LABEL", file=out)
    elif verb == "choose":
        choices = loaded.runbook.step(step).choices or [] if step else []
        label = " ".join(rest)
        if label.isdigit() and 1 <= int(label) <= len(choices):
            label = choices[int(label) - 1].label
        action = lambda: service.choose(run_id, step, actor=actor, label=label)  # noqa: E731
    elif verb in {"run", "retry"}:
        action = lambda: service.run_hook(run_id, step, actor=actor)  # noqa: E731
    elif verb == "rollback":
        _, who = split_as(rest, actor)
        action = lambda: service.rollback(run_id, step, actor=who)  # noqa: E731
    elif verb == "approve":
        _, who = split_as(rest, actor)
        action = lambda: service.approve(run_id, step, actor=who)  # noqa: E731
    elif verb == "deny":
        reason, who = split_as(rest, actor)
        action = lambda: service.deny(run_id, step, actor=who, reason=" ".join(reason))  # noqa: E731
    elif verb == "ask":
        action = lambda: service.request_again(run_id, step, actor=actor)  # noqa: E731
    elif verb == "note":
        if len(rest) < 2:
            print("! Name the step and the new note: note STEP TEXT", file=out)
        else:
            action = lambda: service.amend(run_id, rest[0], actor=actor, note=" ".join(rest[1:]))  # noqa: E731
    elif verb == "abort":
        action = lambda: service.abort(run_id, actor=actor, reason=" ".join(rest))  # noqa: E731
    else:
        print(f"! unknown command {verb!r}; type help", file=out)
    if action is not None:
        try:
            print_entries(await action(), out)
        except UserError as exc:
            print(f"! {exc}", file=out)
    return True


async def _printing_poster(out: TextIO) -> Callable[[str, str], Awaitable[Any]]:
    async def post(channel: str, text: str) -> dict[str, str]:
        print(f"  (slack.post to {channel}: {text})", file=out)
        return {"drill": "printed, not posted"}

    return post


async def runs(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """The runs the ledger knows, from Slack and drills alike: what `--resume` needs."""
    async with opened_store(settings, read_only=True) as store:
        listed = await store.runs(status=None if args.all else "active", with_start=True)
    if not listed:
        print("No runs yet." if args.all else "No run is active.", file=out)
        return 0
    width = max(len(str(r["run_id"])) for r in listed) + 2
    print(
        f"{'run':<{width}}{'runbook':<28}{'status':<11}{'started (UTC)':<21}{'by':<12}channel",
        file=out,
    )
    for r in listed:
        when = str(r["started_at"])[:19].replace("T", " ")
        runbook = f"{r['runbook']}@{r['number']}" if r["number"] else str(r["runbook"])
        print(
            f"{r['run_id']:<{width}}{runbook:<28}{r['status']:<11}{when:<21}"
            f"{r['requester']:<12}{r['channel']}",
            file=out,
        )
    return 0


async def drill(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    actor = acting_person(args.actor)
    params = parse_params(args.params)
    registry = await load_registry([settings.runbooks_dir / HOOKS_DIR])
    for failure in registry.failures:
        print(f"! {failure}", file=out)
    roles = await load_roles(settings.runbooks_dir)
    approvers = {name: list(role.users) for name, role in roles.roles.items()}
    async with opened_store(settings, existing=True) as store:
        poster = await _printing_poster(out)
        service = RunService(store, registry, roles_from_file(roles), post=poster)
        if args.resume:
            run_id = args.resume
            if not await store.read(run_id=run_id, limit=1):  # not every run in the index
                raise UserError(f"There is no run {run_id!r}; `runbook-bot runs` lists them.")
            resumed = await service.load(run_id)
            print(f"run {run_id} of {resumed.version.short}, resumed by {actor}", file=out)
        elif args.ref:
            ref = parse_ref(args.ref)
            run_id, entries = await service.start(ref, params, requester=actor, channel="local")
            print(f"run {run_id} started by {actor} (type help for commands)", file=out)
            print_entries(entries, out)
        else:
            raise UserError("Name the runbook to run (REF), or give --resume RUN_ID.")
        interactive = sys.stdin.isatty()
        while True:
            loaded = await service.load(run_id)
            if loaded.state.status is not RunStatus.ACTIVE:
                print(f"\nrun {run_id} {loaded.state.status.value}.", file=out)
                completed = loaded.state.status is RunStatus.COMPLETED
                return EXIT_COMPLETED if completed else EXIT_ABORTED
            print_card(loaded, out, approvers)
            if interactive:
                print(f"{actor}> ", end="", file=out, flush=True)
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            if not interactive:
                print(f"{actor}> {line.strip()}", file=out)
            if not await _dispatch(service, run_id, actor, line, out, approvers):
                break
    print(
        f"\nrun {run_id} left active; continue with `runbook-bot run --resume {run_id}`.", file=out
    )
    return EXIT_LEFT_ACTIVE
