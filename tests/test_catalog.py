"""The catalog on disk: the shipped examples, duplicates across files, unreadable directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import SourceFile, check_sources, load_catalog
from bot.domain.runbook import StepKind
from bot.errors import UserError
from tests.conftest import EXAMPLES


async def test_shipped_examples_are_valid_and_cover_every_feature() -> None:
    checked = await load_catalog(EXAMPLES)
    assert checked.problems == []
    by_name = {f.runbook.name: f.runbook for f in checked.runbooks}
    assert set(by_name) == {
        "restart-service",
        "disk-full-triage",
        "database-failover",
        "customer-comms-outage",
        "security-incident-intake",
    }
    steps = [s for rb in by_name.values() for s in rb.steps]
    assert {s.kind for s in steps} == set(StepKind)
    assert any(s.guard and s.rollback for s in by_name["restart-service"].steps)
    assert any(s.choices for s in by_name["disk-full-triage"].steps)
    assert any(s.guard and s.guard.quorum == 2 for s in by_name["database-failover"].steps)
    for checklist in ("customer-comms-outage", "security-incident-intake"):
        assert all(s.kind is not StepKind.HOOK for s in by_name[checklist].steps)
    assert any(p.secret for p in by_name["security-incident-intake"].params.values())
    assert any(s.when for s in steps) and any(s.idempotent for s in steps)
    for path in EXAMPLES.glob("*.yml"):
        if path.name != "roles.yml":
            assert path.read_text(encoding="utf-8").startswith(
                "# yaml-language-server: $schema=../docs/runbook.schema.json"
            )


def test_two_files_with_one_name_are_refused() -> None:
    text = "name: same\ntitle: t\nsteps: [{id: a, title: a}]\n"
    checked = check_sources([SourceFile("a.yml", text), SourceFile("b.yml", text)], None)
    assert [str(p) for p in checked.problems] == [
        "b.yml:1:7: runbook name 'same' is already used by a.yml (hint: names must be unique)"
    ]
    assert [f.path for f in checked.runbooks] == ["a.yml"]


def test_roles_file_problems_are_reported_with_positions() -> None:
    roles = SourceFile("roles.yml", "roles:\n  ic:\n    user: [U1]\n")
    checked = check_sources([], roles)
    assert [str(p) for p in checked.problems] == [
        "roles.yml:3:5: unknown key 'user' in roles.ic (hint: did you mean 'users'?)"
    ]


def test_without_a_roles_file_every_guard_role_is_undefined() -> None:
    text = "name: x\ntitle: t\nsteps: [{id: a, title: a, guard: {approvers: [ic]}}]\n"
    [problem] = check_sources([SourceFile("x.yml", text)], None).problems
    assert problem.message == "guard names undefined role 'ic'"


async def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist; create it or set RUNBOOKS_DIR"):
        await load_catalog(tmp_path / "nope")


async def test_hooks_directory_and_roles_are_not_runbooks(runbooks_dir: Path) -> None:
    (runbooks_dir / "hooks").mkdir(exist_ok=True)
    (runbooks_dir / "hooks" / "config.yml").write_text("not: a runbook\n", encoding="utf-8")
    checked = await load_catalog(runbooks_dir)
    assert checked.problems == [] and len(checked.runbooks) == 5
