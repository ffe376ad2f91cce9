"""The provider's documentation, served by the Airflow API server at ``/flux-provider/docs``.

The Providers page links each provider to its ``Documentation`` project URL, and without one
to a page on airflow.apache.org that does not exist for a third-party provider. Package
metadata only takes absolute URLs, and where the API server lives is known only when it runs,
so this plugin sets the link (unless the metadata names one) when the API server loads it:
the README of the installed version, read from the distribution's own metadata (its long
description), so the page matches the code that runs. Rendered without raw HTML; it holds
no secret, so like every plugin route it needs no login.
"""

from __future__ import annotations

import functools
from importlib.metadata import metadata
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/flux-provider"
DOCS_PATH = f"{URL_PREFIX}/docs"
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>airflow-flux-provider {version}</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
pre{{background:#f4f4f4;padding:.75rem;overflow:auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.25rem .5rem;vertical-align:top}}</style></head>
<body>{body}</body></html>
"""


@functools.cache
def readme_html() -> str:
    """The installed README as one HTML page (raw HTML in it is escaped, not passed through)."""
    from markdown_it import MarkdownIt

    meta = metadata("airflow-flux-provider")
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(meta["Description"] or "")
    return _PAGE.format(version=meta["Version"], body=body)


class _DocsApps:
    """``fastapi_apps``, built on first access: only the API server ever reads it."""

    def __init__(self) -> None:
        self._apps: list[dict[str, Any]] | None = None

    def __get__(self, instance: object, owner: type) -> list[dict[str, Any]]:
        if self._apps is None:
            from fastapi import FastAPI
            from fastapi.responses import HTMLResponse

            app = FastAPI(title="airflow-flux-provider documentation", docs_url=None, redoc_url=None)

            @app.get("/docs", response_class=HTMLResponse)
            def docs() -> str:
                return readme_html()

            self._apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Flux provider documentation"}]
            _link_provider_page()
        return self._apps


def _link_provider_page() -> None:
    """Point the Providers page's link at :data:`DOCS_PATH` (relative to the UI's own host)."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    manager.initialize_providers_list()
    info = manager.providers.get("airflow-flux-provider")
    if info is not None and not info.data.get("documentation-url"):
        info.data["documentation-url"] = DOCS_PATH


class FluxDocsPlugin(AirflowPlugin):
    """Serves the README at ``/flux-provider/docs``, the provider's documentation link."""

    name = "flux_docs"
    fastapi_apps = _DocsApps()
