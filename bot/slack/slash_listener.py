"""The `/runbook` command: parse, answer within Slack's three seconds, and leave anything slow
(a modal, a verification of the whole ledger) to run after the ack. Listeners mixes it in."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import catalog_service
from bot.domain import slash
from bot.domain.run_state import RunState
from bot.domain.versions import Ref
from bot.errors import UserError, report_unexpected
from bot.ledger.store import LedgerStore
from bot.run_service import RunService
from bot.slack.blocks import catalog_blocks, help_blocks
from bot.slack.modals import params_modal
from bot.slack.outbox import Outbox
from bot.slack.text import escape, truncate

logger = logging.getLogger("runbook-bot.slack")


class SlashCommands:
    """What it needs of the Listeners it is mixed into is declared here."""

    store: LedgerStore
    service: RunService
    outbox: Outbox
    client: AsyncWebClient

    def later(self, coro: Coroutine[Any, Any, Any]) -> None:
        raise NotImplementedError

    async def _open(
        self, trigger_id: str, view: dict[str, Any], user: str, channel: str | None = None
    ) -> None:
        raise NotImplementedError

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


def _progress(state: RunState) -> str:
    """Where an active run is: `step 2 of 5, *Title* (awaiting approval)`."""
    current = state.current
    assert current is not None
    number = state.index(current.id) + 1
    status = current.status.value.replace("_", " ")
    return f"step {number} of {len(state.steps)}, *{escape(current.title)}* ({status})"
