"""Demo hooks for the example runbooks. Safe on any machine: they only read and write files
under a scratch directory (RUNBOOK_DEMO_DIR, default ./.runbook-demo), which stands in for
services, hosts and database clusters."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pydantic import BaseModel, Field

from bot.hooks import HookContext, HookError, hook


def scratch(*parts: str) -> Path:
    root = Path(os.environ.get("RUNBOOK_DEMO_DIR", ".runbook-demo"))
    path = root.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _read(path: Path, default: str) -> str:
    return path.read_text(encoding="utf-8").strip() if path.exists() else default


class Service(BaseModel, extra="forbid"):
    service: str = Field(pattern=r"^[a-z0-9-]+$")
    env: str = "staging"


@hook("demo.health")
async def health(args: Service, ctx: HookContext) -> dict[str, str]:
    """Report a demo service's state; fail when it is not running."""
    state = await asyncio.to_thread(_read, scratch("services", f"{args.service}.state"), "running")
    if state != "running":
        raise HookError(f"{args.service} is {state}")
    return {"service": args.service, "state": state}


@hook("demo.restart", plans=True)
async def restart(args: Service, ctx: HookContext) -> dict[str, str]:
    """Restart a demo service (writes its state file); fails if the file says `broken`."""
    path = scratch("services", f"{args.service}.state")
    if ctx.dry_run:
        state = await asyncio.to_thread(_read, path, "running")
        return {"would": f"restart {args.service} in {args.env}", "current_state": state}
    if await asyncio.to_thread(_read, path, "running") == "broken":
        raise HookError(f"{args.service} did not come back after the restart")
    await asyncio.sleep(0.05)
    await asyncio.to_thread(path.write_text, "running\n", encoding="utf-8")
    return {
        "service": args.service,
        "env": args.env,
        "state": "running",
        "key": ctx.idempotency_key,
    }


@hook("demo.start")
async def start(args: Service, ctx: HookContext) -> dict[str, str]:
    """Start a demo service (the rollback of demo.restart)."""
    await asyncio.to_thread(
        scratch("services", f"{args.service}.state").write_text, "running\n", encoding="utf-8"
    )
    return {"service": args.service, "state": "running"}


class Host(BaseModel, extra="forbid"):
    host: str = Field(pattern=r"^[a-z0-9.-]+$")


@hook("demo.disk_usage")
async def disk_usage(args: Host, ctx: HookContext) -> dict[str, int | str]:
    """Used percentage of a demo host's disk (default 93)."""
    used = int(await asyncio.to_thread(_read, scratch("hosts", args.host, "used"), "93"))
    return {"host": args.host, "used_percent": used}


class CleanLogs(Host):
    older_than_days: int = Field(default=7, ge=1)


@hook("demo.clean_logs")
async def clean_logs(args: CleanLogs, ctx: HookContext) -> dict[str, int | str]:
    """Pretend to delete old logs: lowers the demo host's usage."""
    path = scratch("hosts", args.host, "used")
    await asyncio.to_thread(path.write_text, "61\n", encoding="utf-8")
    return {"host": args.host, "used_percent": 61, "dry_run": str(ctx.dry_run)}


class Grow(Host):
    percent: int = Field(ge=1, le=100)


@hook("demo.grow_volume")
async def grow_volume(args: Grow, ctx: HookContext) -> dict[str, int | str]:
    """Pretend to grow the demo host's volume."""
    path = scratch("hosts", args.host, "used")
    used = int(await asyncio.to_thread(_read, path, "93"))
    new = max(1, used * 100 // (100 + args.percent))
    await asyncio.to_thread(path.write_text, f"{new}\n", encoding="utf-8")
    return {"host": args.host, "used_percent": new}


class Cluster(BaseModel, extra="forbid"):
    cluster: str = Field(pattern=r"^[a-z]+$")


class Lag(Cluster):
    max_lag_seconds: int = Field(default=5, ge=0)


@hook("demo.replica_lag")
async def replica_lag(args: Lag, ctx: HookContext) -> dict[str, int | str]:
    """Replication lag of a demo cluster (default 1s); fails above the limit."""
    lag = int(await asyncio.to_thread(_read, scratch("clusters", args.cluster, "lag"), "1"))
    if lag > args.max_lag_seconds:
        raise HookError(
            f"replica of {args.cluster} is {lag}s behind (limit {args.max_lag_seconds}s)"
        )
    return {"cluster": args.cluster, "lag_seconds": lag}


async def _set_primary(cluster: str, primary: str) -> dict[str, str]:
    await asyncio.to_thread(
        scratch("clusters", cluster, "primary").write_text, f"{primary}\n", encoding="utf-8"
    )
    return {"cluster": cluster, "primary": primary}


@hook("demo.promote_replica", plans=True)
async def promote_replica(args: Cluster, ctx: HookContext) -> dict[str, str]:
    """Make the demo replica the primary."""
    if ctx.dry_run:
        primary = await asyncio.to_thread(
            _read, scratch("clusters", args.cluster, "primary"), "original"
        )
        return {"would": f"make the {args.cluster} replica primary", "primary_now": primary}
    return await _set_primary(args.cluster, "replica")


@hook("demo.demote_replica")
async def demote_replica(args: Cluster, ctx: HookContext) -> dict[str, str]:
    """Undo demo.promote_replica."""
    return await _set_primary(args.cluster, "original")


@hook("demo.update_dns")
async def update_dns(args: Cluster, ctx: HookContext) -> dict[str, str]:
    """Point the demo cluster's name at its current primary."""
    primary = await asyncio.to_thread(
        _read, scratch("clusters", args.cluster, "primary"), "original"
    )
    await asyncio.to_thread(
        scratch("clusters", args.cluster, "dns").write_text, f"{primary}\n", encoding="utf-8"
    )
    return {"cluster": args.cluster, "points_at": primary}
