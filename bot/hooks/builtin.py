"""The hooks every team gets: HTTP requests, commands without a shell, waiting, posting to Slack."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, Field, field_validator

from bot.hooks.api import HookContext, HookError, hook

OUTPUT_TAIL = 4000


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


class HttpArgs(BaseModel, extra="forbid"):
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    expect: list[int] = Field(
        default_factory=list, description="Acceptable statuses; default any 2xx."
    )
    timeout: float = Field(default=10, gt=0)

    _url = field_validator("url")(_http_url)


@hook("http.request")
async def http_request(args: HttpArgs, ctx: HookContext) -> dict[str, Any]:
    """Send one HTTP request and check its status."""
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    headers = {"Idempotency-Key": ctx.idempotency_key, **args.headers}
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(
                args.method, args.url, headers=headers, json=args.json_body
            ) as response,
        ):
            body = await response.text(errors="replace")
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise HookError(f"{args.method} {args.url} failed: {type(exc).__name__}: {exc}") from None
    ok = status in args.expect if args.expect else 200 <= status < 300
    if not ok:
        wanted = ", ".join(map(str, args.expect)) or "2xx"
        raise HookError(
            f"{args.method} {args.url} answered {status}, expected {wanted}: {body[:300]}"
        )
    return {
        "status": status,
        "body": body[-OUTPUT_TAIL:],
        "elapsed_ms": int((time.monotonic() - started) * 1000),
    }


class CommandArgs(BaseModel, extra="forbid"):
    argv: list[str] = Field(
        min_length=1, description="Program and arguments; no shell is involved."
    )
    timeout: float = Field(default=60, gt=0)
    env: list[str] = Field(default_factory=list, description="Names of variables passed through.")
    cwd: str | None = None
    expect_exit: list[int] = Field(default_factory=lambda: [0])


@hook("command.run")
async def command_run(args: CommandArgs, ctx: HookContext) -> dict[str, Any]:
    """Run a program without a shell, with only the environment variables named in `env`."""
    env = {name: os.environ[name] for name in ["PATH", "LANG", *args.env] if name in os.environ}
    env["RUNBOOK_IDEMPOTENCY_KEY"] = ctx.idempotency_key
    try:
        process = await asyncio.create_subprocess_exec(
            *args.argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env=env,
            cwd=args.cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise HookError(f"cannot start {args.argv[0]!r}: {exc.strerror}") from None
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), args.timeout)
    except TimeoutError:
        raise HookError(
            f"{args.argv[0]} did not finish within {args.timeout:g}s and was killed"
        ) from None
    finally:
        if process.returncode is None:  # timed out or cancelled by an abort
            process.kill()
            await process.wait()
    out = stdout.decode(errors="replace")[-OUTPUT_TAIL:]
    err = stderr.decode(errors="replace")[-OUTPUT_TAIL:]
    if process.returncode not in args.expect_exit:
        raise HookError(
            f"{args.argv[0]} exited with {process.returncode}: {(err or out).strip()[-500:]}"
        )
    return {"exit": process.returncode, "stdout": out, "stderr": err}


class WaitArgs(BaseModel, extra="forbid"):
    seconds: float | None = Field(default=None, ge=0, le=3600)
    url: str | None = None
    until_status: int = 200
    interval: float = Field(default=2, gt=0)
    timeout: float = Field(default=60, gt=0)

    _url = field_validator("url")(lambda v: v if v is None else _http_url(v))


@hook("wait")
async def wait(args: WaitArgs, ctx: HookContext) -> dict[str, Any]:
    """Sleep, or poll a URL until it answers `until_status`."""
    if args.url is None:
        await asyncio.sleep(args.seconds or 0)
        return {"waited_s": args.seconds or 0}
    deadline = time.monotonic() + args.timeout
    tries, last = 0, "no answer"
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=min(args.interval * 2, 10))
    ) as session:
        while True:
            tries += 1
            try:
                async with session.get(args.url) as response:
                    if response.status == args.until_status:
                        return {"status": response.status, "tries": tries}
                    last = f"status {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = type(exc).__name__
            if time.monotonic() + args.interval > deadline:
                raise HookError(
                    f"{args.url} did not answer {args.until_status} within {args.timeout:g}s (last: {last})"
                )
            await asyncio.sleep(args.interval)


class PostArgs(BaseModel, extra="forbid"):
    channel: str = Field(min_length=1)
    text: str = Field(min_length=1, max_length=3000)


@hook("slack.post")
async def slack_post(args: PostArgs, ctx: HookContext) -> dict[str, Any]:
    """Post a message to a Slack channel."""
    if ctx.post is None:
        raise HookError("slack.post needs a Slack connection, and this run has none")
    result = await ctx.post(args.channel, args.text)
    return {"channel": args.channel, "posted": True, "result": result}
