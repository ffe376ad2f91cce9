"""The chart a release installs: a local chart folder or ``.tgz`` (e.g. a source task's
artifact), an ``oci://`` reference, or a chart pulled from an HTTP Helm repository.

``chart.spec.version`` is a semver constraint (Masterminds grammar, ``airflow_flux_provider.semver``);
a local chart whose version does not satisfy it is refused before helm runs.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.errors import ChartError, HelmCommandError
from airflow_flux_provider.semver import Constraint, SemverError
from airflow_flux_provider.sources.archive import read_files
from airflow_flux_provider.sources.errors import SourceError


@dataclass(frozen=True)
class Chart:
    """What helm installs (``location``) and what Flux reports about it."""

    location: str
    name: str
    version: str
    app_version: str = ""
    files: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    plain_http: bool = False  # an oci:// registry served over plain HTTP (a local or test registry)

    def install_flags(self) -> list[str]:
        """The chart flags of ``helm install|upgrade`` (:attr:`location` is the operand): an OCI
        chart is pinned to the resolved version."""
        if not self.location.startswith("oci://"):
            return []
        return [f"--version={self.version}", *(["--plain-http"] if self.plain_http else [])]

    @property
    def revision(self) -> str:
        return self.version

    def values_files(self, names: list[str], *, ignore_missing: bool, obj: str) -> list[tuple[str, str]]:
        """``chart.spec.valuesFiles`` from the chart, in order; a missing one fails unless ignored."""
        found = []
        for name in names:
            text = self.files.get(name.lstrip("./"))
            if text is None:
                if ignore_missing:
                    continue
                raise ChartError(
                    f"values file {name!r} is not in chart {self.name}@{self.version}; fix the path or set "
                    "ignoreMissingValuesFiles: true",
                    obj=obj,
                    field="spec.chart.spec.valuesFiles",
                )
            found.append((name, text))
        return found


def _metadata(text: str, where: str, obj: str) -> dict[str, Any]:
    try:
        meta = yaml.safe_load(text)
    except yaml.YAMLError:
        meta = None
    if not isinstance(meta, dict) or not meta.get("name") or not meta.get("version"):
        raise ChartError(
            f"{where} is not a valid Chart.yaml (needs name and version)", obj=obj, field="spec.chart"
        )
    return meta


def _read_tgz(path: Path, obj: str) -> tuple[dict[str, Any], dict[str, str]]:
    """``Chart.yaml`` and the YAML files of a packaged chart (entries checked as any archive's)."""
    files: dict[str, str] = {}
    try:
        for name, content in read_files(path, obj=obj):
            parts = name.parts
            if len(parts) >= 2 and name.suffix in (".yaml", ".yml"):
                files["/".join(parts[1:])] = content.decode("utf-8", errors="replace")
    except (SourceError, tarfile.TarError, OSError, EOFError) as err:
        problem = err.message if isinstance(err, SourceError) else str(err)
        raise ChartError(
            f"{path} is not a readable chart archive: {problem}", obj=obj, field="spec.chart"
        ) from None
    if "Chart.yaml" not in files:
        raise ChartError(f"{path} holds no Chart.yaml", obj=obj, field="spec.chart")
    return _metadata(files["Chart.yaml"], str(path), obj), files


def _read_dir(path: Path, obj: str) -> tuple[dict[str, Any], dict[str, str]]:
    chart_yaml = path / "Chart.yaml"
    if not chart_yaml.is_file():
        raise ChartError(
            f"{path} holds no Chart.yaml; point at a chart folder or .tgz", obj=obj, field="spec.chart"
        )
    files = {
        str(p.relative_to(path)): p.read_text(encoding="utf-8", errors="replace")
        for p in path.rglob("*.y*ml")
        if p.is_file() and "templates" not in p.relative_to(path).parts
    }
    return _metadata(files["Chart.yaml"], str(chart_yaml), obj), files


def check_version(version: str, constraint: str, *, name: str, obj: str) -> None:
    try:
        ok = Constraint.parse(constraint, obj=obj, field="spec.chart.spec.version").check(version)
    except SemverError as err:
        raise ChartError(
            f"{err.message}; chart {name} has version {version}", obj=obj, field="spec.chart.spec.version"
        ) from None
    if not ok:
        raise ChartError(
            f"chart {name} version {version} does not satisfy the constraint {constraint!r}; "
            "change chart.spec.version or provide a matching chart",
            obj=obj,
            field="spec.chart.spec.version",
        )


def load_chart(
    location: str | Path | dict[str, Any],
    *,
    obj: str,
    constraint: str = "*",
    cli: HelmCli | None = None,
    plain_http: bool = False,
) -> Chart:
    """Read a chart's identity; ``location`` is a path, an XCom dict with ``path``, or ``oci://…``."""
    if isinstance(location, dict):
        location = str(location.get("path") or "")
    text = str(location)
    if text.startswith("oci://"):
        if cli is None:
            raise ChartError("an oci:// chart needs a HelmCli to inspect it", obj=obj, field="spec.chart")
        args = ["show", "chart", *(["--plain-http"] if plain_http else [])]
        if constraint not in ("", "*"):
            args.append(f"--version={constraint}")
        try:
            meta = _metadata(cli.run(args, operands=[text], timeout=120, obj=obj, cluster=False), text, obj)
        except HelmCommandError as err:
            raise ChartError(f"chart {text} not found: {err.message}", obj=obj, field="spec.chart") from None
        return Chart(
            text, meta["name"], str(meta["version"]), str(meta.get("appVersion", "")), plain_http=plain_http
        )
    path = Path(text)
    if not text or not path.exists():
        raise ChartError(
            f"chart {text!r} not found; pass a chart folder, a .tgz (a source task's 'path') "
            "or an oci:// reference",
            obj=obj,
            field="spec.chart",
        )
    meta, files = _read_dir(path, obj) if path.is_dir() else _read_tgz(path, obj)
    chart = Chart(str(path), str(meta["name"]), str(meta["version"]), str(meta.get("appVersion", "")), files)
    check_version(chart.version, constraint, name=chart.name, obj=obj)
    return chart


def pull_chart(cli: HelmCli, repo_url: str, name: str, constraint: str, dest: Path, *, obj: str) -> Chart:
    """Download ``name`` from an HTTP Helm repository (helm resolves the constraint)."""
    dest.mkdir(parents=True, exist_ok=True)
    args = ["pull", f"--repo={repo_url}", f"--destination={dest}"]
    if constraint not in ("", "*"):
        args.append(f"--version={constraint}")
    try:
        cli.run(args, operands=[name], timeout=120, obj=obj, cluster=False)
    except HelmCommandError as err:
        raise ChartError(
            f"chart {name}@{constraint or '*'} not found in {repo_url}: {err.message}; check the chart "
            "name and chart.spec.version",
            obj=obj,
            field="spec.chart.spec",
        ) from None
    archives = sorted(dest.glob(f"{name}-*.tgz"), key=lambda p: p.stat().st_mtime)
    if not archives:
        raise ChartError(f"helm pull of {name} left no archive in {dest}", obj=obj, field="spec.chart.spec")
    return load_chart(archives[-1], obj=obj, constraint=constraint)
