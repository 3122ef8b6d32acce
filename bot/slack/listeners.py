"""Thin listeners: parse, call the run service (which appends to the ledger), ack, then let the
outbox post. Everything slow happens after the ack."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import catalog_service
from bot.domain import slash
from bot.domain.policy import Seen
from bot.domain.run_state import RunState
from bot.domain.versions import Ref, parse_ref
from bot.errors import UserError, report_unexpected
from bot.ledger.chain import Entry
from bot.ledger.store import LedgerStore
from bot.logs import log_context
from bot.run_service import RunService
from bot.slack.app_home import publish_home
from bot.slack.blocks import catalog_blocks, help_blocks
from bot.slack.dedupe import SeenEvents
from bot.slack.ids import ActionId, ButtonValue, decode, decode_start
from bot.slack.metrics import Metrics
from bot.slack.modals import params_modal, reason_modal, submitted_params
from bot.slack.outbox import Outbox
from bot.slack.text import escape, truncate

logger = logging.getLogger("runbook-bot.slack")
NEEDS_REASON = {ActionId.STEP_SKIP.value, ActionId.DENY.value, ActionId.ABORT.value}


@dataclass
class Listeners:
    store: LedgerStore
    service: RunService
    outbox: Outbox
    client: AsyncWebClient
    metrics: Metrics = field(default_factory=Metrics)
    seen_events: SeenEvents = field(default_factory=SeenEvents)
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    def _count(self, entries: list[Entry]) -> None:
        for entry in entries:
            self.metrics.decisions.labels(entry.kind).inc()
            if entry.kind in ("hook.succeeded", "hook.failed", "hook.timed_out"):
                seconds = float(entry.data.get("duration_ms", 0)) / 1000
                self.metrics.hook_seconds.labels(
                    str(entry.data.get("hook", "?")), entry.kind.split(".")[1]
                ).observe(seconds)

    def later(self, coro: Any) -> None:
        """Work after the ack. Its failure cannot reach the person any more, so it is logged
        with a traceback and an id rather than lost as a never-retrieved task exception."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            work = getattr(task.get_coro(), "__qualname__", "background work")
            report_unexpected(logger, error, context=f"running {work} after an ack")

    async def cancel(self) -> None:
        """Stop what is still under way (shutdown after an error); a restart resumes it."""
        tasks = [*self._background, *self.outbox.pending()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self) -> None:
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.outbox.drain()

    async def _warn(self, channel: str | None, user: str, text: str) -> None:
        """Tell one person why nothing happened; runs after the ack, so a failure is only logged."""
        if not channel:
            return
        try:
            await self.client.chat_postEphemeral(
                channel=channel, user=user, text=f":warning: {escape(text)}"
            )
        except SlackApiError as exc:
            logger.warning(
                "chat.postEphemeral to %s failed: %s", user, exc.response.get("error", "unknown")
            )

    async def _open(
        self, trigger_id: str, view: dict[str, Any], user: str, channel: str | None = None
    ) -> None:
        """Open a modal after the ack; if Slack refuses, say so to the person who asked."""
        try:
            await self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error")
            logger.warning("views.open failed for %s: %s", user, error)
            await self._warn(
                channel or user, user, f"Slack did not open the form ({error}); try again."
            )

    # ---- /runbook --------------------------------------------------------------------------

    async def command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        user, channel = command["user_id"], command["channel_id"]
        parsed = slash.parse(command.get("text", ""))
        try:
            await self._command(
                ack,
                parsed,
                user,
                channel,
                command.get("trigger_id", ""),
                command.get("response_url", ""),
            )
        except UserError as exc:
            await ack(text=f":warning: {exc}")
        except Exception as exc:
            error_id = report_unexpected(
                logger, exc, context=f"/runbook {command.get('text', '')!r}"
            )
            await ack(
                text=f":x: Something went wrong (error id {error_id}); the bot's log has the details."
            )

    async def _command(
        self,
        ack: AsyncAck,
        parsed: slash.SlashCommand,
        user: str,
        channel: str,
        trigger_id: str,
        response_url: str,
    ) -> None:
        match parsed:
            case slash.Help(problem):
                await ack(text=slash.USAGE, blocks=help_blocks(slash.USAGE, problem))
            case slash.ListRunbooks(query):
                versions = await catalog_service.defaults(self.store, query)
                titles = await self.service.titles(versions)
                await ack(text="Runbooks", blocks=catalog_blocks(versions, titles))
            case slash.Start(ref, params):
                await self._start(ack, ref, params, user, channel, trigger_id)
            case slash.Status(run_id):
                await ack(text=await self._status(run_id, channel))
            case slash.Abort(run_id, reason):
                await self.service.abort(run_id, actor=user, reason=reason)
                await ack(text=f"Run `{run_id}` aborted.")
                self.outbox.kick(run_id)
            case slash.History(name):
                versions = await self.store.versions(name)
                default = await self.store.default_number(name)
                if not versions:
                    raise UserError(f"No published runbook is named {name!r}.")
                lines = [
                    f"• `{v.name}@{v.number}` sha256:`{v.sha256[:12]}`"
                    f" {v.published_at[:16].replace('T', ' ')} by {escape(v.author)}"
                    + (f": {escape(v.message)}" if v.message else "")
                    + (" *(default)*" if v.number == default else "")
                    for v in versions
                ]
                await ack(text=truncate("\n".join(lines), 2900))
            case slash.Diff(name, a, b):
                text = await catalog_service.diff(
                    self.store, name, str(a).split("@", 1)[1], str(b).split("@", 1)[1]
                )
                await ack(
                    text=f"```{escape(truncate(text or 'The two versions are the same.', 2800))}```"
                )
            case slash.Verify(run_id):
                # Re-hashing a large ledger takes seconds, more than Slack waits for an ack.
                await ack(text=":hourglass_flowing_sand: Verifying the ledger; the answer follows.")
                self.later(self._verify(run_id, user, channel, response_url))

    async def _verify(self, run_id: str | None, user: str, channel: str, url: str) -> None:
        """`/runbook verify`, after its ack: the verdict to the person who asked, and to the
        run's thread when they named a run."""
        try:
            verdict = await self.store.verify()
        except Exception as exc:
            error_id = report_unexpected(logger, exc, context="/runbook verify")
            await self._answer(
                user,
                channel,
                url,
                f":x: The ledger could not be verified (error id {error_id}); the bot's log has the details.",
            )
            return
        extra = ""
        if run_id:
            entries = await self.store.read(run_id=run_id)
            extra = (
                f"\nRun `{run_id}`: {len(entries)} entries in the chain, #{entries[0].seq} to #{entries[-1].seq}."
                if entries
                else f"\nThere is no run `{run_id}`."
            )
        answer = f"{':white_check_mark:' if verdict.ok else ':x:'} {verdict.summary()}{extra}"
        await self._answer(user, channel, url, answer)
        thread = await self.outbox.delivery.thread(run_id) if run_id else None
        if thread is not None:  # the run's thread records who checked, and when
            text = f"<@{escape(user)}> ran `/runbook verify`: {answer}"
            await self.client.chat_postMessage(channel=thread[0], thread_ts=thread[1], text=text)

    async def _answer(self, user: str, channel: str, url: str, text: str) -> None:
        """A late answer to a slash command, shown only to the person who typed it: through
        the command's response_url (which works in any channel), else chat.postEphemeral."""
        if url:
            try:
                sent = await AsyncWebhookClient(url).send(text=text, response_type="ephemeral")
            except aiohttp.ClientError as exc:
                logger.warning("response_url failed for the answer to %s: %s", user, exc)
            else:
                if sent.status_code == 200:
                    return
                logger.warning("response_url refused the answer to %s: %s", user, sent.body)
        try:
            await self.client.chat_postEphemeral(channel=channel, user=user, text=text)
        except (aiohttp.ClientError, SlackApiError) as exc:
            logger.warning("could not answer %s: %s", user, exc)

    async def _start(
        self,
        ack: AsyncAck,
        ref: Ref,
        params: dict[str, str],
        user: str,
        channel: str,
        trigger_id: str,
    ) -> None:
        version = await catalog_service.find(self.store, ref)
        loaded_ref = Ref(version.name, number=version.number)
        runbook = await self.service.pinned_runbook(loaded_ref)
        missing = [n for n, p in runbook.params.items() if p.required and n not in params]
        if missing and trigger_id:
            await ack()  # first: the modal may take longer than Slack waits for the ack
            self.later(
                self._open(
                    trigger_id,
                    params_modal(runbook, str(loaded_ref), channel, params),
                    user,
                    channel,
                )
            )
            return
        run_id, _ = await self.service.start(loaded_ref, params, requester=user, channel=channel)
        await ack(
            text=f"Started run `{run_id}` of `{version.name}@{version.number}`; it continues in the thread."
        )
        self.outbox.kick(run_id)

    async def _status(self, run_id: str | None, channel: str) -> str:
        if run_id:
            state = (await self.service.load(run_id)).state
            who = f"started by <@{escape(state.requester)}> in <#{escape(state.channel)}>"
            head = f"Run `{run_id}` of `{state.runbook}@{state.number}`, {who}, is {state.status.value}"
            if state.current is not None:
                return f"{head}: {_progress(state)}."
            return f"{head} ({escape(state.reason)})." if state.reason else f"{head}."
        runs = [r for r in await self.store.runs(status="active") if r["channel"] == channel]
        if not runs:
            return "No runs are active in this channel."
        lines = []
        for r in runs:
            state = (await self.service.load(r["run_id"])).state
            lines.append(
                f"• `{r['run_id']}` {escape(r['runbook'])}, started by <@{escape(r['requester'])}>"
                + (f": {_progress(state)}" if state.current is not None else "")
            )
        return truncate("\n".join(lines), 2900)

    # ---- buttons -----------------------------------------------------------------------

    async def action(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id")
        action_id = str(action.get("action_id", ""))
        try:
            if action_id == ActionId.START.value:
                start = decode_start(str(action.get("value", "")))
                ref = Ref(start.name, number=start.number)
                runbook = await self.service.pinned_runbook(ref)
                await ack()  # first: a slow or rate-limited views.open must not delay the ack
                self.later(
                    self._open(
                        body["trigger_id"], params_modal(runbook, str(ref), channel or "", {}), user
                    )
                )
                return
            if action_id in NEEDS_REASON:
                decode(
                    str(action.get("value", ""))
                )  # refuse a tampered value before asking anything
                view = reason_modal(action_id, str(action["value"]), channel or "")
                await ack()
                self.later(self._open(body["trigger_id"], view, user, channel))
                return
            entries = await self._decide_logged(action_id, str(action.get("value", "")), user)
            self._count(entries)
        except UserError as exc:
            await ack()
            self.later(self._warn(channel, user, str(exc)))
            return
        await ack()
        for entry in entries:
            if entry.kind == "approval.refused":
                self.later(
                    self._warn(
                        channel, user, f"Your approval does not count: {entry.data.get('why')}."
                    )
                )
        if entries:
            self.outbox.kick(entries[0].run_id or "")

    async def _decide_logged(self, action_id: str, raw_value: str, user: str) -> list[Entry]:
        try:
            value = decode(raw_value)
        except UserError:
            logger.warning("refused a button with invalid data from %s (%s)", user, action_id)
            raise
        with log_context(run_id=value.run, step_id=value.step or None):
            logger.info("%s pressed %s", user, action_id)
            return await self._decide(action_id, value, user)

    async def _decide(self, action_id: str, value: ButtonValue, user: str) -> list[Entry]:
        loaded = await self.service.current(value.run)  # its version and steps never change
        # An approval bound to another version is refused by the policy, which records it.
        if value.sha and value.sha != loaded.state.sha256 and action_id != ActionId.APPROVE.value:
            raise UserError(
                "This card belongs to another version of the runbook; nothing was changed."
            )
        step = value.step
        if action_id == ActionId.STEP_DONE.value:
            return await self.service.done(value.run, step, actor=user)
        if action_id == ActionId.APPROVE.value:
            return await self.service.approve(
                value.run, step, actor=user, seen=Seen(value.sha, value.args)
            )
        if action_id == ActionId.STEP_RUN.value:
            started = await self.service.begin_hook(value.run, step, actor=user)
            if started:
                self.later(self._complete(value.run, step, int(started[0].data["attempt"])))
            return started
        if action_id.startswith(ActionId.CHOOSE.value):
            choices = loaded.runbook.step(step).choices or []
            if value.choice is None or value.choice >= len(choices):
                raise UserError("That choice does not exist; reload the message.")
            return await self.service.choose(
                value.run, step, actor=user, label=choices[value.choice].label
            )
        raise UserError(f"The button {action_id!r} is not one this bot knows.")

    async def _complete(self, run_id: str, step: str, attempt: int) -> None:
        self._count(await self.service.complete_hook(run_id, step, attempt))
        self.outbox.kick(run_id)

    # ---- App Home ----------------------------------------------------------------------

    async def home(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Answered at once; the tab is drawn after, since Slack retries an event whose
        answer takes over 3 seconds and the drawing waits on Slack's own API."""
        if not self.seen_events.first_time(str(body.get("event_id", ""))):
            self.metrics.duplicate_events.inc()
            return
        self.later(publish_home(self.service, self.client, str(event["user"])))

    # ---- modals ------------------------------------------------------------------------

    async def reason(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view["private_metadata"])
        user = body["user"]["id"]
        reason = str(view["state"]["values"]["reason"]["reason"].get("value") or "")
        try:
            value = decode(meta["value"])
            action_id = meta["action"]
            if action_id == ActionId.STEP_SKIP.value:
                entries = await self.service.skip(value.run, value.step, actor=user, reason=reason)
            elif action_id == ActionId.DENY.value:
                entries = await self.service.deny(value.run, value.step, actor=user, reason=reason)
            else:
                entries = await self.service.abort(value.run, actor=user, reason=reason)
        except UserError as exc:
            await ack(response_action="errors", errors={"reason": str(exc)})
            return
        await ack()
        for entry in entries:
            if entry.kind == "approval.refused":
                self.later(
                    self._warn(
                        meta.get("channel"),
                        user,
                        f"Your denial does not count: {entry.data.get('why')}.",
                    )
                )
        self.outbox.kick(value.run)

    async def params_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        meta = json.loads(view["private_metadata"])
        user = body["user"]["id"]
        ref = parse_ref(meta["ref"])
        runbook = await self.service.pinned_runbook(ref)
        params, errors = submitted_params(runbook, view["state"]["values"])
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        try:
            run_id, _ = await self.service.start(
                ref, params, requester=user, channel=meta["channel"] or user
            )
        except UserError as exc:
            first = next(iter(runbook.params), "")
            await ack(response_action="errors", errors={f"param:{first}": str(exc)})
            return
        await ack()
        self.outbox.kick(run_id)


def _progress(state: RunState) -> str:
    """Where an active run is: `step 2 of 5, *Title* (awaiting approval)`."""
    current = state.current
    assert current is not None
    number = state.index(current.id) + 1
    status = current.status.value.replace("_", " ")
    return f"step {number} of {len(state.steps)}, *{escape(current.title)}* ({status})"
