"""Automation hooks: `@hook("team.action")` on an async function taking (args, ctx).

    from pydantic import BaseModel
    from bot.hooks import HookContext, hook

    class Args(BaseModel):
        service: str

    @hook("demo.restart")
    async def restart(args: Args, ctx: HookContext) -> dict[str, str]:
        ...

The decorator only marks the function; `registry.load_registry` finds marked functions.
"""

from bot.hooks.api import HookContext, HookError, HookSpec, hook

__all__ = ["HookContext", "HookError", "HookSpec", "hook"]
