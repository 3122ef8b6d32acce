"""Loading hooks: built-ins and team modules, duplicates rejected, broken modules isolated."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.hooks.registry import load_sync
from tests.conftest import EXAMPLES

GOOD = """
from pydantic import BaseModel
from bot.hooks import HookContext, hook

class Args(BaseModel):
    n: int = 1

@hook("{name}")
async def thing(args: Args, ctx: HookContext) -> dict[str, int]:
    return {{"n": args.n}}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_builtins_and_the_example_hooks_load() -> None:
    registry = load_sync([EXAMPLES / "hooks"])
    assert registry.failures == []
    assert {
        "http.request",
        "command.run",
        "wait",
        "slack.post",
        "demo.restart",
        "demo.health",
    } <= registry.names
    spec = registry.hooks["demo.restart"]
    assert spec.source_path.endswith("demo.py") and len(spec.source_sha256) == 64
    assert spec.description.startswith("Restart a demo service")


def test_a_duplicate_name_is_rejected_and_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.py", GOOD.format(name="team.thing"))
    write(tmp_path, "b.py", GOOD.format(name="team.thing"))
    registry = load_sync([tmp_path])
    assert registry.hooks["team.thing"].source_path.endswith("a.py")
    [failure] = registry.failures
    assert failure.source.endswith("b.py")
    assert (
        "hook 'team.thing' is already defined in" in failure.message and "a.py" in failure.message
    )


def test_a_builtin_name_cannot_be_taken_over(tmp_path: Path) -> None:
    write(tmp_path, "evil.py", GOOD.format(name="command.run"))
    registry = load_sync([tmp_path])
    assert registry.hooks["command.run"].source_path == "bot.hooks.builtin"
    assert "already defined in bot.hooks.builtin" in registry.failures[0].message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("def broken(:\n", "failed to import: SyntaxError"),
        (
            "raise RuntimeError('no credentials file')\n",
            "failed to import: RuntimeError: no credentials file",
        ),
        (
            "from bot.hooks import hook\n@hook('team.sync')\ndef sync(args, ctx):\n    return 1\n",
            "TypeError: hook 'team.sync': sync must be `async def`",
        ),
        (
            "from bot.hooks import hook\n@hook('team.bad')\nasync def bad(x: int, ctx: object) -> int:\n    return 1\n",
            "write `async def bad(args: SomeModel, ctx: HookContext)`",
        ),
    ],
)
def test_a_broken_module_is_reported_and_the_rest_still_load(
    tmp_path: Path, text: str, message: str
) -> None:
    write(tmp_path, "broken.py", text)
    write(tmp_path, "fine.py", GOOD.format(name="team.fine"))
    registry = load_sync([tmp_path])
    assert "team.fine" in registry.names
    [failure] = registry.failures
    assert message in failure.message
    assert failure.details.startswith("Traceback")


def test_underscore_modules_and_missing_directories_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "_helpers.py", "raise RuntimeError('not a hook module')\n")
    registry = load_sync([tmp_path, tmp_path / "missing"])
    assert registry.failures == []
