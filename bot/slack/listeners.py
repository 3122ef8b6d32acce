"""Thin listeners: parse, call the run service (which appends to the ledger), ack, then let the
outbox post. Everything slow happens after the ack."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.policy import Seen
from bot.domain.versions import Ref, parse_ref
from bot.errors import UserError, report_unexpected
from bot.ledger.chain import Entry
from bot.ledger.store import LedgerStore
from bot.logs import log_context
from bot.run_service import RunService
from bot.slack.app_home import publish_home
from bot.slack.dedupe import SeenEvents
from bot.slack.ids import ActionId, ButtonValue, decode, decode_start
from bot.slack.metrics import Metrics
from bot.slack.modals import params_modal, reason_modal, submitted_params
from bot.slack.outbox import Outbox
from bot.slack.slash_listener import SlashCommands
from bot.slack.text import escape

logger = logging.getLogger("runbook-bot.slack")
NEEDS_REASON = {ActionId.STEP_SKIP.value, ActionId.DENY.value, ActionId.ABORT.value}


@dataclass
class Listeners(SlashCommands):
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
