"""The executor and built-in hooks against real subprocesses and a real local HTTP server."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from pydantic import BaseModel

from bot.hooks.api import HookContext, HookError, HookSpec, hook
from bot.hooks.executor import MAX_RESULT_CHARS, execute
from bot.hooks.registry import load_sync

REGISTRY = load_sync([])


def spec(name: str) -> HookSpec:
    found = REGISTRY.get(name)
    assert found is not None
    return found


def ctx(key: str = "run-1:step:1") -> HookContext:
    return HookContext(run_id="run-1", step_id="step", idempotency_key=key)


# ---- command.run: real processes -------------------------------------------------------


async def test_command_runs_without_a_shell() -> None:
    outcome = await execute(spec("command.run"), {"argv": ["echo", "$(whoami); ls *"]}, ctx())
    assert outcome.ok and outcome.result["stdout"] == "$(whoami); ls *\n"


async def test_command_environment_is_an_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_SECRET_TOKEN", "do-not-leak")
    monkeypatch.setenv("ALLOWED_VAR", "visible")
    code = "import os; print(os.environ.get('BOT_SECRET_TOKEN'), os.environ.get('ALLOWED_VAR'), os.environ['RUNBOOK_IDEMPOTENCY_KEY'])"
    outcome = await execute(
        spec("command.run"), {"argv": [sys.executable, "-c", code], "env": ["ALLOWED_VAR"]}, ctx()
    )
    assert outcome.ok and outcome.result["stdout"].split() == ["None", "visible", "run-1:step:1"]


async def test_command_failure_carries_the_exit_code_and_stderr() -> None:
    code = "import sys; sys.stderr.write('disk is read-only'); sys.exit(3)"
    outcome = await execute(spec("command.run"), {"argv": [sys.executable, "-c", code]}, ctx())
    assert not outcome.ok and outcome.error.endswith("exited with 3: disk is read-only")


async def test_command_over_its_own_timeout_is_killed() -> None:
    started = time.monotonic()
    outcome = await execute(spec("command.run"), {"argv": ["sleep", "30"], "timeout": 0.5}, ctx())
    assert not outcome.ok and "did not finish within 0.5s and was killed" in outcome.error
    assert time.monotonic() - started < 5


async def test_step_timeout_cancels_the_hook_and_kills_the_process(tmp_path: Any) -> None:
    marker = tmp_path / "pid"
    code = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(30)"
    outcome = await execute(
        spec("command.run"), {"argv": [sys.executable, "-c", code]}, ctx(), limit_s=1
    )
    assert outcome.timed_out and outcome.error == "timed out after 1s"
    pid = int(marker.read_text())
    await asyncio.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_missing_program_is_a_clear_failure() -> None:
    outcome = await execute(spec("command.run"), {"argv": ["no-such-program-xyz"]}, ctx())
    assert (
        not outcome.ok
        and outcome.error == "cannot start 'no-such-program-xyz': No such file or directory"
    )


async def test_bad_arguments_name_the_field() -> None:
    outcome = await execute(spec("command.run"), {"argv": [], "shell": True}, ctx())
    assert not outcome.ok
    assert outcome.error.startswith(
        "command.run got bad arguments (argv: List should have at least 1 item"
    )
    assert "shell: Extra inputs are not permitted" in outcome.error


# ---- masking and truncation ---------------------------------------------------------


class Echo(BaseModel):
    text: str


@hook("test.echo")
async def echo(args: Echo, ctx: HookContext) -> dict[str, str]:
    return {"text": args.text}


@hook("test.explode")
async def explode(args: Echo, ctx: HookContext) -> None:
    raise KeyError(args.text)


ECHO = HookSpec("test.echo", echo, Echo, "test", "0" * 64)
EXPLODE = HookSpec("test.explode", explode, Echo, "test", "0" * 64)


async def test_secrets_and_tokens_are_masked_in_results_and_errors() -> None:
    text = "password hunter2 token xoxb-1234-5678-abcdefgh key AKIAABCDEFGHIJKLMNOP Bearer abcdefghijklmnop12345"
    outcome = await execute(ECHO, {"text": text}, ctx(), secrets={"db_password": "hunter2"})
    assert outcome.result == {
        "text": "password [secret] token [redacted token] key [redacted token] Bearer [redacted token]"
    }
    failed = await execute(EXPLODE, {"text": "hunter2"}, ctx(), secrets={"p": "hunter2"})
    assert "hunter2" not in failed.error and failed.error.startswith(
        "KeyError: '[secret]' (error id "
    )


async def test_long_results_are_truncated_with_their_size() -> None:
    outcome = await execute(ECHO, {"text": "x" * 10_000}, ctx())
    assert outcome.result["truncated"] is True and outcome.result["size"] > 10_000
    assert len(outcome.result["preview"]) == MAX_RESULT_CHARS


async def test_hook_errors_are_shown_as_written() -> None:
    @hook("test.fail")
    async def fail(args: Echo, ctx: HookContext) -> None:
        raise HookError(f"{args.text} refused to drain")

    outcome = await execute(
        HookSpec("test.fail", fail, Echo, "t", "0" * 64), {"text": "eu-west-1"}, ctx()
    )
    assert (outcome.ok, outcome.error) == (False, "eu-west-1 refused to drain")


async def test_cancellation_propagates_so_an_abort_stops_the_hook() -> None:
    task = asyncio.create_task(execute(spec("command.run"), {"argv": ["sleep", "30"]}, ctx()))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# ---- http.request and wait: a real local server --------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    seen: dict[str, Any] = {"health_calls": 0}

    async def ok(request: web.Request) -> web.Response:
        seen["key"] = request.headers.get("Idempotency-Key")
        return web.json_response({"healthy": True})

    async def down(request: web.Request) -> web.Response:
        return web.Response(status=503, text="maintenance")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def flapping(request: web.Request) -> web.Response:
        seen["health_calls"] += 1
        return web.Response(status=200 if seen["health_calls"] >= 3 else 502)

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/down", down)
    app.router.add_get("/slow", slow)
    app.router.add_get("/flapping", flapping)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_http_request_success_sends_the_idempotency_key(
    server: tuple[str, dict[str, Any]],
) -> None:
    base, seen = server
    outcome = await execute(spec("http.request"), {"url": f"{base}/ok"}, ctx("run-1:check:2"))
    assert (
        outcome.ok
        and outcome.result["status"] == 200
        and '"healthy": true' in outcome.result["body"]
    )
    assert seen["key"] == "run-1:check:2"


async def test_http_request_unexpected_status_fails_with_the_body(
    server: tuple[str, dict[str, Any]],
) -> None:
    base, _ = server
    outcome = await execute(spec("http.request"), {"url": f"{base}/down"}, ctx())
    assert outcome.error == f"GET {base}/down answered 503, expected 2xx: maintenance"
    expected = await execute(spec("http.request"), {"url": f"{base}/down", "expect": [503]}, ctx())
    assert expected.ok


async def test_http_request_timeout_and_refused_connection(
    server: tuple[str, dict[str, Any]],
) -> None:
    base, _ = server
    slow = await execute(spec("http.request"), {"url": f"{base}/slow", "timeout": 0.3}, ctx())
    assert not slow.ok and "failed: TimeoutError" in slow.error
    refused = await execute(spec("http.request"), {"url": "http://127.0.0.1:9/x"}, ctx())
    assert not refused.ok and "ClientConnectorError" in refused.error


async def test_http_request_refuses_non_http_urls() -> None:
    outcome = await execute(spec("http.request"), {"url": "file:///etc/passwd"}, ctx())
    assert (
        not outcome.ok and "url: Value error, must start with http:// or https://" in outcome.error
    )


async def test_wait_polls_until_the_status_arrives(server: tuple[str, dict[str, Any]]) -> None:
    base, seen = server
    outcome = await execute(
        spec("wait"), {"url": f"{base}/flapping", "interval": 0.05, "timeout": 5}, ctx()
    )
    assert outcome.ok and outcome.result == {"status": 200, "tries": 3}
    assert seen["health_calls"] == 3
    gave_up = await execute(
        spec("wait"),
        {"url": f"{base}/down", "interval": 0.05, "timeout": 0.3, "until_status": 200},
        ctx(),
    )
    assert not gave_up.ok and "did not answer 200 within 0.3s (last: status 503)" in gave_up.error


async def test_slack_post_without_a_connection_fails_clearly() -> None:
    outcome = await execute(spec("slack.post"), {"channel": "C1", "text": "hi"}, ctx())
    assert outcome.error == "slack.post needs a Slack connection, and this run has none"
