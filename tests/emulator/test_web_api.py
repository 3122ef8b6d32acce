"""The emulator answers slack_sdk's real client as Slack would: shapes, tokens, required
arguments, Block Kit limits with Slack's error codes, and injected faults."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator.faults import FaultKind
from bot.emulator.server import Emulator, running_emulator
from bot.emulator.workspace import Workspace

CHANNEL = "C0INCIDENT"


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with running_emulator(Workspace.demo()) as running:
        yield running


def client(emulator: Emulator, token: str | None = None) -> AsyncWebClient:
    return AsyncWebClient(token=token or emulator.token, base_url=emulator.api_url)


async def error_of(call: object) -> str:
    with pytest.raises(SlackApiError) as caught:
        await call  # type: ignore[misc]
    return str(caught.value.response["error"])


async def test_history_pages_top_level_messages_newest_first(emulator: Emulator) -> None:
    web = client(emulator)
    first = await web.chat_postMessage(channel=CHANNEL, text="m0")
    for i in range(1, 5):
        root = await web.chat_postMessage(channel=CHANNEL, text=f"m{i}")
        await web.chat_postMessage(channel=CHANNEL, text=f"reply {i}", thread_ts=root["ts"])
    await web.chat_postMessage(channel="C0GENERAL", text="elsewhere")
    seen, cursor, pages = [], None, 0
    while True:
        page = await web.conversations_history(channel=CHANNEL, limit=2, cursor=cursor)
        seen += [m["text"] for m in page["messages"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        assert bool(cursor) == page["has_more"]
        if not page["has_more"]:
            break
    assert seen == ["m4", "m3", "m2", "m1", "m0"]  # no replies, no other channel's messages
    assert pages == 3
    after = await web.conversations_history(channel=CHANNEL, oldest=first["ts"])
    assert [m["text"] for m in after["messages"]] == ["m4", "m3", "m2", "m1"]
    inclusive = await web.conversations_history(channel=CHANNEL, oldest=first["ts"], inclusive=True)
    assert inclusive["messages"][-1]["text"] == "m0"
    assert await error_of(web.conversations_history(channel=CHANNEL, oldest="soon")) == (
        "invalid_ts_oldest"
    )
    assert await error_of(web.conversations_history(channel=CHANNEL, cursor="%%")) == (
        "invalid_cursor"
    )


async def test_auth_is_checked(emulator: Emulator) -> None:
    assert (await client(emulator).auth_test())["user_id"] == "UBOT00001"
    assert await error_of(client(emulator, "xoxb-wrong").auth_test()) == "invalid_auth"
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emulator.api_url}auth.test") as response,
    ):
        assert (await response.json())["error"] == "not_authed"


async def test_messages_threads_and_updates(emulator: Emulator) -> None:
    web = client(emulator)
    root = await web.chat_postMessage(channel=CHANNEL, text="root")
    reply = await web.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=root["ts"])
    await web.chat_update(channel=CHANNEL, ts=reply["ts"], text="edited")
    replies = await web.conversations_replies(channel=CHANNEL, ts=root["ts"])
    assert [m["text"] for m in replies["messages"]] == ["root", "edited"]
    assert emulator.workspace.thread(root["ts"])[0].edited
    assert await error_of(web.chat_postMessage(channel="C0NOPE", text="x")) == "channel_not_found"
    with pytest.warns(UserWarning, match="text"):  # slack_sdk warns too
        assert await error_of(web.chat_postMessage(channel=CHANNEL)) == "no_text"
    assert (
        await error_of(web.chat_update(channel=CHANNEL, ts="1.1", text="x")) == "message_not_found"
    )
    assert (
        await error_of(web.chat_postMessage(channel=CHANNEL, text="x", thread_ts="9.9"))
        == "thread_not_found"
    )


async def test_block_kit_limits_are_slacks(emulator: Emulator) -> None:
    web = client(emulator)
    divider = {"type": "divider"}
    assert await error_of(
        web.chat_postMessage(channel=CHANNEL, text="x", blocks=[divider] * 51)
    ) == ("invalid_blocks")
    assert (
        await error_of(web.chat_postMessage(channel=CHANNEL, text="x" * 40_001)) == "msg_too_long"
    )
    long_section = {"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}
    with pytest.raises(SlackApiError) as caught:
        await web.chat_postMessage(channel=CHANNEL, text="x", blocks=[long_section])
    assert caught.value.response["error"] == "invalid_blocks"
    assert (
        "json-pointer:/blocks/0/text/text"
        in caught.value.response["response_metadata"]["messages"][0]
    )
    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "z" * 76}}
    assert (
        await error_of(
            web.chat_postMessage(
                channel=CHANNEL, text="x", blocks=[{"type": "actions", "elements": [button]}]
            )
        )
        == "invalid_blocks"
    )
    twice = {
        "type": "actions",
        "elements": [{**button, "text": {"type": "plain_text", "text": "ok"}}] * 2,
    }
    assert (
        await error_of(web.chat_postMessage(channel=CHANNEL, text="x", blocks=[twice]))
        == "invalid_blocks"
    )
    fine: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3000}},
        divider,
    ]
    assert (await web.chat_postMessage(channel=CHANNEL, text="x", blocks=fine))["ok"]


async def test_views_need_a_fresh_trigger(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = client(emulator)
    modal = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Reason"},
        "blocks": [{"type": "divider"}],
    }
    trigger = emulator.workspace.issue_trigger("U0SRE0001", CHANNEL)
    opened = await web.views_open(trigger_id=trigger, view=modal)
    assert emulator.workspace.views[opened["view"]["id"]].user == "U0SRE0001"
    assert await error_of(web.views_open(trigger_id="nope", view=modal)) == "invalid_trigger_id"
    stale = emulator.workspace.issue_trigger("U0SRE0001", CHANNEL)
    emulator.workspace.triggers[stale].issued = time.monotonic() - 4
    assert await error_of(web.views_open(trigger_id=stale, view=modal)) == "expired_trigger_id"
    too_long = {**modal, "title": {"type": "plain_text", "text": "t" * 25}}
    fresh = emulator.workspace.issue_trigger("U0SRE0001", CHANNEL)
    assert await error_of(web.views_open(trigger_id=fresh, view=too_long)) == "invalid_arguments"
    home = {"type": "home", "blocks": [{"type": "divider"}]}
    published = await web.views_publish(user_id="U0IC00001", view=home)
    assert emulator.workspace.homes["U0IC00001"] == published["view"]["id"]
    updated = await web.views_update(view_id=opened["view"]["id"], view=modal)
    assert updated["ok"]


async def test_people_groups_and_channels(emulator: Emulator) -> None:
    web = client(emulator)
    assert (await web.usergroups_users_list(usergroup="S0ICROTA01"))["users"] == ["U0IC00001"]
    assert await error_of(web.usergroups_users_list(usergroup="S0NOPE")) == "no_such_subteam"
    assert (await web.users_info(user="U0IC00001"))["user"]["real_name"] == "Ivy Chen"
    assert await error_of(web.users_info(user="U0NOBODY")) == "user_not_found"
    assert (await web.conversations_info(channel=CHANNEL))["channel"]["name"] == "incident-2211"
    listed = await web.users_conversations(user="U0OUTSIDE")
    assert {c["id"] for c in listed["channels"]} == {"C0INCIDENT", "C0GENERAL"}
    await web.chat_postEphemeral(channel=CHANNEL, user="U0OUTSIDE", text="only you")
    assert emulator.workspace.ephemerals[-1].ephemeral_for == "U0OUTSIDE"
    emulator.workspace.channels["C0GENERAL"].members.remove("U0OUTSIDE")
    assert (
        await error_of(web.chat_postEphemeral(channel="C0GENERAL", user="U0OUTSIDE", text="x"))
        == "user_not_in_channel"
    )


async def test_faults_answer_as_slack_does_and_the_sdk_retries_them(emulator: Emulator) -> None:
    plain = client(emulator)
    emulator.fail_next("chat.postMessage", FaultKind.RATE_LIMITED, retry_after=0)
    with pytest.raises(SlackApiError) as caught:
        await plain.chat_postMessage(channel=CHANNEL, text="x")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["retry-after"] == "0"
    emulator.fail_next("chat.postMessage", FaultKind.SERVER_ERROR)
    with pytest.raises(SlackApiError) as caught:
        await plain.chat_postMessage(channel=CHANNEL, text="x")
    assert caught.value.response.status_code == 500
    emulator.fail_next("chat.update", FaultKind.ERROR, error="cant_update_message")
    assert (
        await error_of(plain.chat_update(channel=CHANNEL, ts="1.1", text="x"))
        == "cant_update_message"
    )

    retrying = client(emulator)
    retrying.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    emulator.fail_next("chat.postMessage", FaultKind.RATE_LIMITED, count=2, retry_after=0)
    assert (await retrying.chat_postMessage(channel=CHANNEL, text="after two 429s"))["ok"]
    assert emulator.count("chat.postMessage") == 5  # two failures above, two 429s, one success

    emulator.fail_next("auth.test", FaultKind.SLOW, delay=0.3)
    started = time.monotonic()
    assert (await plain.auth_test())["ok"]
    assert time.monotonic() - started >= 0.3


def test_random_faults_are_reproducible_and_bounded() -> None:
    from bot.emulator.faults import Faults

    def draw(seed: int) -> list[FaultKind | None]:
        faults = Faults()
        faults.at_random(0.3, seed=seed)
        return [(f.kind if (f := faults.take("chat.postMessage")) else None) for _ in range(1000)]

    first = draw(7)
    assert first == draw(7) and first != draw(8)
    hits = sum(1 for kind in first if kind is not None)
    assert 240 < hits < 360  # about 30%
    with pytest.raises(ValueError, match="share between 0 and 1"):
        Faults().at_random(1.5)


async def test_faults_can_be_set_over_http(emulator: Emulator) -> None:
    url = f"{emulator.base_url}/emulator/faults"
    async with aiohttp.ClientSession() as session:
        fault = {"method": "auth.test", "kind": "error", "error": "team_access_not_granted"}
        async with session.post(url, json=fault) as response:
            assert response.status == 200
        async with session.post(url, json={"method": "auth.test", "kind": "nonsense"}) as response:
            assert response.status == 400 and "bad fault" in (await response.json())["error"]
    assert await error_of(client(emulator).auth_test()) == "team_access_not_granted"
    assert (await client(emulator).auth_test())["ok"]  # only the next call


def test_the_workspace_survives_a_round_trip_through_its_file(tmp_path: object) -> None:
    from pathlib import Path

    from bot.emulator.workspace import Message

    workspace = Workspace.demo()
    workspace.messages.append(Message("1700000000.000007", CHANNEL, "UBOT00001", "hello", None))
    path = Path(str(tmp_path)) / "w.json"
    workspace.save(path)
    again = Workspace.from_json(path.read_text(encoding="utf-8"))
    assert again.messages == workspace.messages and again.users == workspace.users
    assert int(again.next_ts().split(".")[1]) > 7  # new messages sort after the saved ones
