"""/catalog: the runbooks on disk against what is published, and whether the ledger verifies."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from aiohttp import web
from jinja2 import Environment, select_autoescape

from bot.catalog import load_catalog_and_hooks
from bot.config import Settings
from bot.errors import UserError
from bot.ledger.store import LedgerStore

SETTINGS_KEY = web.AppKey("settings", Settings)
STORE_KEY = web.AppKey("store", LedgerStore)
PAGE_KEY = web.AppKey("page", str)


@dataclass(frozen=True)
class CatalogRow:
    name: str
    title: str
    summary: str
    path: str
    default: str
    status: str  # published | changed | new


async def index(request: web.Request) -> web.Response:
    settings, store = request.app[SETTINGS_KEY], request.app[STORE_KEY]
    try:
        checked, registry = await load_catalog_and_hooks(settings.runbooks_dir)
        problems = [str(f) for f in registry.failures]
        problems += [str(p) for p in checked.problems]
    except UserError as exc:
        checked, problems = None, [str(exc)]
    rows = []
    for file in checked.runbooks if checked else []:
        versions = await store.versions(file.runbook.name)
        number = await store.default_number(file.runbook.name)
        default = next((v for v in versions if v.number == number), None)
        published = any(v.sha256 == file.sha256 for v in versions)
        rows.append(
            CatalogRow(
                name=file.runbook.name,
                title=file.runbook.title,
                summary=file.runbook.summary,
                path=file.path,
                default=default.short if default else "",
                status="published" if published else ("changed" if versions else "new"),
            )
        )
    template = Environment(autoescape=select_autoescape(default=True)).from_string(
        request.app[PAGE_KEY]
    )
    html = template.render(
        rows=rows,
        problems=problems,
        verdict=await store.verify(),
        runbooks_dir=settings.runbooks_dir,
        db_url=settings.runbook_db_url,
    )
    return web.Response(text=html, content_type="text/html")


def add_catalog_page(app: web.Application, settings: Settings, store: LedgerStore) -> None:
    app[SETTINGS_KEY] = settings
    app[STORE_KEY] = store
    app[PAGE_KEY] = files("bot.console").joinpath("catalog.html").read_text(encoding="utf-8")
    app.router.add_get("/catalog", index)
