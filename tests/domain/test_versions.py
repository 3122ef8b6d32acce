from __future__ import annotations

import pytest

from bot.domain.versions import Ref, VersionInfo, parse_ref, parse_selector, resolve
from bot.errors import UserError


def version(number: int, sha: str) -> VersionInfo:
    return VersionInfo("db", number, sha, "src", "me", "", "2026-01-01T00:00:00Z", number)


VERSIONS = [
    version(1, "aaaaaaaa11" + "0" * 54),
    version(2, "aaaaaaaa22" + "0" * 54),
    version(3, "bbbbbbbb33" + "0" * 54),
]


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("db", Ref("db")),
        ("db@3", Ref("db", number=3)),
        ("db@sha256:AAAAAAAA22", Ref("db", prefix="aaaaaaaa22")),
        ("restart-service@12", Ref("restart-service", number=12)),
    ],
)
def test_parse_ref(text: str, ref: Ref) -> None:
    assert parse_ref(text) == ref


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("db@", "not a runbook reference"),
        ("db@latest", "not a runbook reference"),
        ("db@sha256:abc", "at least 8 hex digits"),
        ("db@0", "start at 1"),
        ("Bad_Name", "not a runbook name"),
    ],
)
def test_bad_refs_say_how_to_write_one(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_ref(text)


def test_selectors_for_diff() -> None:
    assert parse_selector("db", "2") == Ref("db", number=2)
    assert parse_selector("db", "@2") == Ref("db", number=2)
    assert parse_selector("db", "sha256:bbbbbbbb") == Ref("db", prefix="bbbbbbbb")
    assert parse_selector("db", "db@1") == Ref("db", number=1)
    with pytest.raises(UserError, match="not a version of db"):
        parse_selector("db", "latest")


def test_resolve_by_default_number_and_prefix() -> None:
    assert resolve(Ref("db"), VERSIONS, default=2).number == 2
    assert resolve(Ref("db"), VERSIONS, default=None).number == 3
    assert resolve(Ref("db", number=1), VERSIONS, default=2).number == 1
    assert resolve(Ref("db", prefix="bbbbbbbb"), VERSIONS, default=2).number == 3
    assert resolve(Ref("db", prefix="aaaaaaaa11"), VERSIONS, default=2).number == 1


def test_resolve_explains_failures() -> None:
    with pytest.raises(UserError, match="ambiguous"):
        resolve(Ref("db", prefix="aaaaaaaa"), VERSIONS, default=2)
    with pytest.raises(UserError, match="versions 1 to 3"):
        resolve(Ref("db", number=9), VERSIONS, default=2)
    with pytest.raises(UserError, match="No version of db has a hash starting with cccccccc"):
        resolve(Ref("db", prefix="cccccccc"), VERSIONS, default=2)
    with pytest.raises(UserError, match="publish"):
        resolve(Ref("db"), [], default=None)
