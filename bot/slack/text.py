"""Message text from Jinja2 templates, escaped the way Slack's mrkdwn needs: only &, < and >.

HTML autoescape is wrong for Slack: it turns an apostrophe into &#39;, which Slack shows as is.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import ImmutableSandboxedEnvironment


def escape(value: Any) -> str:
    """Escape text for mrkdwn so user input cannot form links, mentions or broadcasts."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, *, suffix: str = "…") -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(suffix))] + suffix


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    """Every value interpolated into a message is Slack-escaped; the template text is not."""
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, finalize=escape
    )


@lru_cache(maxsize=256)
def compiled(template: str) -> Template:
    """The bot's own message templates, compiled once each (compiling dominates rendering)."""
    return environment().from_string(template)


def render(template: str, **values: Any) -> str:
    return compiled(template).render(**values)
