"""Publishing and promoting: immutable versions, idempotent publishes, rollback by promotion."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot import catalog_service
from bot.catalog import load_catalog
from bot.catalog_service import PublishStatus
from bot.domain.versions import Ref
from bot.ledger.sqlite_store import SqliteStore


async def publish_dir(
    store: SqliteStore, directory: Path, message: str = ""
) -> dict[str, catalog_service.PublishOutcome]:
    checked = await load_catalog(directory)
    assert checked.problems == []
    outcomes = await catalog_service.publish(
        store, checked.runbooks, author="alice", message=message
    )
    return {o.version.name: o for o in outcomes}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


async def test_publish_is_idempotent_and_formatting_edits_make_no_version(
    store: SqliteStore, runbooks_dir: Path
) -> None:
    first = await publish_dir(store, runbooks_dir, "first")
    assert {o.status for o in first.values()} == {PublishStatus.NEW}
    rb = runbooks_dir / "restart-service.yml"
    edit(rb, 'owner: "@sre-oncall"', "owner: '@sre-oncall'   # same value, other quotes")
    again = await publish_dir(store, runbooks_dir)
    assert {o.status for o in again.values()} == {PublishStatus.UNCHANGED}
    assert again["restart-service"].version.number == 1
    assert (await store.head())[0] == 6  # genesis + five publishes, nothing more


async def test_a_meaningful_change_publishes_the_next_version_and_makes_it_default(
    store: SqliteStore, runbooks_dir: Path
) -> None:
    await publish_dir(store, runbooks_dir)
    edit(runbooks_dir / "database-failover.yml", "quorum: 2", "quorum: 3")
    outcome = (await publish_dir(store, runbooks_dir, "three DBAs"))["database-failover"]
    assert (outcome.status, outcome.version.number, outcome.default) == (PublishStatus.NEW, 2, 2)
    versions = await store.versions("database-failover")
    assert [(v.number, v.message, v.author) for v in versions] == [
        (1, "", "alice"),
        (2, "three DBAs", "alice"),
    ]
    assert "quorum: 2" in versions[0].source and "quorum: 3" in versions[1].source
    assert await store.default_number("database-failover") == 2


async def test_show_keeps_the_published_source_after_the_file_changes(
    store: SqliteStore, runbooks_dir: Path
) -> None:
    await publish_dir(store, runbooks_dir)
    original = (runbooks_dir / "restart-service.yml").read_text(encoding="utf-8")
    (runbooks_dir / "restart-service.yml").write_text(
        original.replace("Restart a stuck", "Bounce a stuck"), encoding="utf-8"
    )
    found = await catalog_service.find(store, Ref("restart-service", number=1))
    assert found.source == original


async def test_promote_rolls_back_and_reverting_the_file_points_at_the_old_version(
    store: SqliteStore, runbooks_dir: Path
) -> None:
    await publish_dir(store, runbooks_dir)
    path = runbooks_dir / "restart-service.yml"
    original = path.read_text(encoding="utf-8")
    edit(path, "expires: 15m", "expires: 5m")
    await publish_dir(store, runbooks_dir)
    outcome = await catalog_service.promote(store, Ref("restart-service", number=1), actor="ic")
    assert outcome.line().endswith("is now the default (was restart-service@2).")
    assert (await catalog_service.find(store, Ref("restart-service"))).number == 1
    assert (
        (await catalog_service.promote(store, Ref("restart-service", number=1), actor="ic"))
        .line()
        .endswith("is already the default; nothing changed.")
    )
    # Promoting forward again, then reverting the file: publish names the existing version.
    await catalog_service.promote(store, Ref("restart-service", number=2), actor="ic")
    path.write_text(original, encoding="utf-8")
    reverted = (await publish_dir(store, runbooks_dir))["restart-service"]
    assert reverted.status is PublishStatus.UNCHANGED and reverted.version.number == 1
    assert "run `runbook-bot promote restart-service@1` to use this one" in reverted.line()
    kinds = [e.kind for e in await store.read()]
    assert kinds.count("runbook.promoted") == 2


async def test_diff_is_a_unified_diff_headed_by_versions(
    store: SqliteStore, runbooks_dir: Path
) -> None:
    await publish_dir(store, runbooks_dir)
    edit(runbooks_dir / "database-failover.yml", "quorum: 2", "quorum: 3")
    await publish_dir(store, runbooks_dir)
    text = await catalog_service.diff(store, "database-failover", "1", "@2")
    lines = text.splitlines()
    assert lines[0].startswith("--- database-failover@1 sha256:") and lines[1].startswith(
        "+++ database-failover@2 sha256:"
    )
    assert "-      quorum: 2" in lines and "+      quorum: 3" in lines
    assert await catalog_service.diff(store, "database-failover", "2", "2") == ""


async def test_concurrent_publishers_agree_on_one_version(
    tmp_path: Path, runbooks_dir: Path
) -> None:
    stores = [await SqliteStore.open(tmp_path / "shared.db") for _ in range(4)]
    try:
        checked = await load_catalog(runbooks_dir)
        results = await asyncio.gather(
            *(
                catalog_service.publish(s, checked.runbooks, author=f"p{i}", message="")
                for i, s in enumerate(stores)
            )
        )
        numbers = {o.version.name: o.version.number for outcomes in results for o in outcomes}
        assert set(numbers.values()) == {1}
        new = [o for outcomes in results for o in outcomes if o.status is PublishStatus.NEW]
        assert len(new) == 5
        assert (await stores[0].verify()).ok
    finally:
        for s in stores:
            await s.close()
