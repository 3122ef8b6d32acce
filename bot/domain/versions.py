"""Runbook versions and the refs that name them: `name`, `name@3`, `name@sha256:abcd1234`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain.canonical import canonical_json, sha256_hex
from bot.domain.runbook import SLUG_PATTERN, Runbook
from bot.errors import UserError

MIN_PREFIX = 8
_REF = re.compile(r"^(?P<name>[^@\s]+)(?:@(?:(?P<number>\d+)|sha256:(?P<prefix>[0-9a-fA-F]+)))?$")
_SELECTOR = re.compile(r"^@?(?:(?P<number>\d+)|sha256:(?P<prefix>[0-9a-fA-F]+))$")
REF_HELP = "write NAME, NAME@3 or NAME@sha256:PREFIX (at least 8 hex digits)"


def canonical_form(runbook: Runbook) -> dict[str, Any]:
    """Everything that changes behaviour, with defaults filled in; comments and layout gone."""
    return runbook.model_dump(mode="json", by_alias=True)


def content_hash(runbook: Runbook, hooks: Mapping[str, str] | None = None) -> str:
    """sha256 of the canonical JSON: formatting-only edits keep it, meaningful edits change it.

    `hooks` maps each hook the runbook uses to the sha256 of its source; when given, it is part
    of the hash, so changing a hook's code makes a new version that has to be published.
    """
    form = canonical_form(runbook)
    if hooks:
        form = {**form, "$hooks": dict(hooks)}
    return sha256_hex(canonical_json(form))


def hooks_used(runbook: Runbook) -> list[str]:
    names = {s.hook for s in runbook.steps if s.hook} | {
        s.rollback.hook for s in runbook.steps if s.rollback
    }
    return sorted(names)


@dataclass(frozen=True)
class Ref:
    name: str
    number: int | None = None
    prefix: str | None = None

    def __str__(self) -> str:
        if self.number is not None:
            return f"{self.name}@{self.number}"
        if self.prefix is not None:
            return f"{self.name}@sha256:{self.prefix}"
        return self.name


def parse_ref(text: str) -> Ref:
    match = _REF.match(text.strip())
    if not match:
        raise UserError(f"{text!r} is not a runbook reference; {REF_HELP}.")
    name = match["name"]
    if not re.match(SLUG_PATTERN, name):
        raise UserError(f"{name!r} is not a runbook name; names are slugs such as restart-service.")
    return _with_selector(name, match["number"], match["prefix"], text)


def parse_selector(name: str, text: str) -> Ref:
    """A version of a known runbook, as `diff NAME A B` takes it: 3, @3 or sha256:PREFIX."""
    if text.startswith(f"{name}@"):
        return parse_ref(text)
    match = _SELECTOR.match(text.strip())
    if not match:
        raise UserError(f"{text!r} is not a version of {name}; write 3, @3 or sha256:PREFIX.")
    return _with_selector(name, match["number"], match["prefix"], text)


def _with_selector(name: str, number: str | None, prefix: str | None, text: str) -> Ref:
    if number is not None:
        if int(number) < 1:
            raise UserError(f"{text!r}: version numbers start at 1.")
        return Ref(name, number=int(number))
    if prefix is not None:
        if len(prefix) < MIN_PREFIX:
            raise UserError(f"{text!r}: a hash prefix needs at least {MIN_PREFIX} hex digits.")
        return Ref(name, prefix=prefix.lower())
    return Ref(name)


@dataclass(frozen=True)
class VersionInfo:
    """A published version as stored; `source` is the file text exactly as published."""

    name: str
    number: int
    sha256: str
    source: str
    author: str
    message: str
    published_at: str
    seq: int  # the ledger entry that published it

    @property
    def label(self) -> str:
        return f"{self.name}@{self.number} sha256:{self.sha256}"

    @property
    def short(self) -> str:
        return f"{self.name}@{self.number} sha256:{self.sha256[:12]}"


def resolve(ref: Ref, versions: Sequence[VersionInfo], default: int | None) -> VersionInfo:
    """Pick the version a ref names from one runbook's versions, or say clearly why not."""
    if not versions:
        raise UserError(
            f"No published runbook is named {ref.name!r}; run `runbook-bot publish` first."
        )
    if ref.number is not None:
        for version in versions:
            if version.number == ref.number:
                return version
        raise UserError(
            f"{ref} does not exist; {ref.name} has versions 1 to {max(v.number for v in versions)}."
        )
    if ref.prefix is not None:
        found = [v for v in versions if v.sha256.startswith(ref.prefix)]
        if not found:
            raise UserError(f"No version of {ref.name} has a hash starting with {ref.prefix}.")
        if len(found) > 1:
            names = ", ".join(v.short for v in found)
            raise UserError(f"{ref} is ambiguous ({names}); give more hex digits.")
        return found[0]
    number = default if default is not None else max(v.number for v in versions)
    return next(v for v in versions if v.number == number)
