"""A classic (HTTP) Helm chart repository: packaged charts plus an ``index.yaml``.

Charts are packaged and indexed by the real ``helm`` binary, so the index is exactly
what a HelmRepository source would download from any chart museum or static host.
Helm runs with its cache/config/data homes under the repository's folder, never the
user's own ``~/.config/helm``.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from airflow_flux_provider.tools import helm_path
from flux_devkit.services.files import write_tree
from flux_devkit.services.httpserver import LocalHTTPServer, LoggingHandler
from flux_devkit.services.process import ServiceError

DEFAULT_TEMPLATES = {
    "configmap.yaml": (
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: {{ .Release.Name }}-{{ .Chart.Name }}\n"
        "data:\n"
        "  chartVersion: {{ .Chart.Version | quote }}\n"
        "  message: {{ .Values.message | quote }}\n"
    )
}
DEFAULT_VALUES: dict[str, Any] = {"message": "hello"}


class _ChartHTTPServer(LocalHTTPServer):
    root: Path


class _ChartHandler(LoggingHandler):
    server: _ChartHTTPServer

    def do_GET(self) -> None:
        if not self.authorized():
            return
        name = unquote(urlsplit(self.path).path).lstrip("/")
        target = (self.server.root / name).resolve()
        if target.parent != self.server.root.resolve() or not target.is_file():
            self.send_body(404, b"not found\n")
            return
        kind = "text/yaml" if target.suffix == ".yaml" else "application/gzip"
        self.send_body(200, target.read_bytes(), kind)

    do_HEAD = do_GET


class ChartRepository:
    """Charts served from one flat folder at :attr:`url` (optionally behind basic auth)."""

    def __init__(self, workdir: Path, username: str | None, password: str | None) -> None:
        self.workdir = workdir
        self.root = workdir / "charts"
        self.root.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        auth = (username, password or "") if username is not None else None
        self._http = _ChartHTTPServer(
            _ChartHandler, workdir / "chart-repo.log", basic_auth=auth, realm="charts"
        )
        self._http.root = self.root
        self._lock = threading.Lock()
        self.helm_env = {
            "HELM_CACHE_HOME": str(workdir / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(workdir / "helm" / "config"),
            "HELM_DATA_HOME": str(workdir / "helm" / "data"),
        }
        self._helm("repo", "index", str(self.root), "--url", self.url)

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def log_path(self) -> Path:
        return self._http.log_path

    def run_helm(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real helm with this repository's private helm homes; the caller checks the result."""
        return subprocess.run(
            [helm_path(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, **self.helm_env},
            check=False,
        )

    def _helm(self, *args: str) -> str:
        result = self.run_helm(*args)
        if result.returncode != 0:
            raise ServiceError(
                f"helm {args[0]} {args[1]} failed: {result.stderr.strip()}",
                obj=f"service/chart-repo {self.url}",
            )
        return result.stdout

    def add_chart(
        self,
        name: str,
        version: str,
        templates: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        app_version: str | None = None,
    ) -> Path:
        """Write a small chart, ``helm package`` it into the repository and re-index; return the .tgz."""
        source = self.workdir / "sources" / f"{name}-{version}" / name
        (source / "templates").mkdir(parents=True, exist_ok=True)
        chart: dict[str, Any] = {"apiVersion": "v2", "name": name, "version": version, "type": "application"}
        if app_version is not None:
            chart["appVersion"] = app_version
        (source / "Chart.yaml").write_text(yaml.safe_dump(chart, sort_keys=False))
        (source / "values.yaml").write_text(yaml.safe_dump(DEFAULT_VALUES if values is None else values))
        chart_files = DEFAULT_TEMPLATES if templates is None else templates
        write_tree(source / "templates", chart_files, obj=f"chart {name}-{version}")
        with self._lock:
            self._helm("package", str(source), "--destination", str(self.root))
            self._helm("repo", "index", str(self.root), "--url", self.url)
        return self.root / f"{name}-{version}.tgz"

    def index(self) -> dict[str, Any]:
        """The parsed ``index.yaml`` as clients download it."""
        loaded: dict[str, Any] = yaml.safe_load((self.root / "index.yaml").read_text())
        return loaded

    def info(self) -> dict[str, str]:
        """Endpoint first, then credentials: what a client (or the demo's connections) needs."""
        return {"url": self.url, "username": self.username or "", "password": self.password or ""}

    def stop(self) -> None:
        self._http.stop()


def start_chart_repo(
    workdir: Path, *, username: str | None = None, password: str | None = None
) -> ChartRepository:
    """Serve a chart repository from ``workdir``; give ``username``/``password`` to require basic auth."""
    return ChartRepository(workdir, username, password)
