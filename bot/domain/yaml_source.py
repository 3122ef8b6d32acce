"""Parse YAML text into plain data plus a map from data paths to line and column.

Pure: text in, values out. ruamel.yaml's round-trip loader keeps the positions we need
to point an author at the exact key that is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

Loc = Sequence[str | int]


class YamlSyntaxError(Exception):
    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True)
class SourceTree:
    """The parsed document: `data` is plain Python, `node` keeps ruamel's positions."""

    data: Any
    node: Any

    def position(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the value at `loc`, or of its key when `key` is true.

        When `loc` goes deeper than the document (a missing key), the deepest existing
        container is named, which is where the author has to add something.
        """
        node = self.node
        line, column = _own_position(node)
        for index, part in enumerate(loc):
            last = index == len(loc) - 1
            if isinstance(node, CommentedMap) and part in node:
                pos = node.lc.key(part) if (key and last) else node.lc.value(part)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                pos = node.lc.item(part)
                node = node[part]
            else:
                break
            line, column = pos[0] + 1, pos[1] + 1
            if isinstance(node, (CommentedMap, CommentedSeq)) and not (key and last):
                line, column = _own_position(node, default=(line, column))
        return line, column


def _own_position(node: Any, default: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    if isinstance(node, (CommentedMap, CommentedSeq)) and node.lc.line is not None:
        return node.lc.line + 1, node.lc.col + 1
    return default


def _plain(node: Any) -> Any:
    """Strip ruamel's subclasses so pydantic and json see ordinary values."""
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, (int, bool)) else k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def parse_yaml(text: str) -> SourceTree:
    """Parse one YAML document; raise YamlSyntaxError with a 1-based position."""
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        node = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlSyntaxError(f"YAML syntax error: {problem}", line, column) from exc
    except YAMLError as exc:
        raise YamlSyntaxError(f"YAML error: {exc}", 1, 1) from exc
    return SourceTree(data=_plain(node), node=node)
