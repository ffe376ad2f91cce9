"""What a folder of Flux objects (e.g. ``clusters/production``) asks for, in dependency order.

Both the DAG factory and the ``reconcile`` CLI start from this plan: sources, the
Kustomizations ordered so every ``dependsOn`` comes first (a cycle or an unknown
dependency is an error naming it), Helm releases and image automation objects. Manifests
are read as plain YAML so ``${VAR}`` placeholders can stay until run time; typed
validation happens where each object is acted on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.specs import parse_duration
from airflow_flux_provider.specs.manifests import yaml_documents

SOURCE_KINDS = ("GitRepository", "HelmRepository", "Bucket", "OCIRepository")
IMAGE_KINDS = ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")


class PlanError(FluxError):
    """The folder's objects cannot be put in an order Flux would reconcile them in."""


@dataclass(frozen=True)
class PlannedObject:
    manifest: dict[str, Any]
    file: str
    #: another object of this kind has the same name in another namespace
    shares_name: bool = False

    @property
    def kind(self) -> str:
        return str(self.manifest.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.manifest.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str:
        return str((self.manifest.get("metadata") or {}).get("namespace") or "default")

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.manifest.get("spec") or {})

    @property
    def task_id(self) -> str:
        """A readable task id, unique in the plan: ``<kind>_<name>``, or ``<kind>_<namespace>_<name>``
        where two namespaces hold an object of that kind and name."""
        parts = (
            (self.kind.lower(), self.namespace, self.name)
            if self.shares_name
            else (self.kind.lower(), self.name)
        )
        return "_".join(parts).replace("-", "_").replace(".", "_")


@dataclass
class ClusterPlan:
    sources: list[PlannedObject] = field(default_factory=list)
    charts: list[PlannedObject] = field(default_factory=list)  # HelmChart objects
    kustomizations: list[PlannedObject] = field(default_factory=list)
    helm_releases: list[PlannedObject] = field(default_factory=list)
    image_objects: list[PlannedObject] = field(default_factory=list)
    others: list[PlannedObject] = field(default_factory=list)

    def source_of(self, obj: PlannedObject) -> PlannedObject:
        """The source a Kustomization's ``sourceRef`` names (namespace defaults to the object's)."""
        ref = obj.spec.get("sourceRef") or {}
        wanted = (ref.get("kind"), ref.get("namespace") or obj.namespace, ref.get("name"))
        for source in self.sources:
            if (source.kind, source.namespace, source.name) == wanted:
                return source
        raise PlanError(
            f"spec.sourceRef names {wanted[0]}/{wanted[1]}/{wanted[2]}, which is not in this folder; "
            "add the source manifest or fix the reference",
            obj=obj.ref,
            field="spec.sourceRef",
        )

    def dependencies(self, obj: PlannedObject) -> list[PlannedObject]:
        depends_on = obj.spec.get("dependsOn") or []
        if not depends_on:  # most: no index of the folder's Kustomizations (a fleet's parse was O(N²))
            return []
        by_key = {(k.namespace, k.name): k for k in self.kustomizations}
        found = []
        for dep in depends_on:
            key = (dep.get("namespace") or obj.namespace, dep.get("name"))
            if key not in by_key:
                raise PlanError(
                    f"dependsOn names Kustomization {key[0]}/{key[1]}, which is not in this folder",
                    obj=obj.ref,
                    field="spec.dependsOn",
                )
            found.append(by_key[key])
        return found

    def with_dependencies(self, kustomizations: Iterable[PlannedObject]) -> list[PlannedObject]:
        """``kustomizations`` and every Kustomization they depend on, transitively, in plan order."""
        wanted: set[str] = set()
        pending = list(kustomizations)
        while pending:
            ks = pending.pop()
            if ks.ref not in wanted:
                wanted.add(ks.ref)
                pending.extend(self.dependencies(ks))
        return [ks for ks in self.kustomizations if ks.ref in wanted]

    def chart_of(self, release: PlannedObject) -> PlannedObject | None:
        """The HelmChart a HelmRelease installs from: the one its ``spec.chart`` template makes
        (Flux names it ``<namespace>-<name>`` and puts it beside its source), or the HelmChart
        its ``chartRef`` names; None when the chart is an OCIRepository's artifact."""
        template = release.spec.get("chart") or {}
        if template:
            spec = dict(template.get("spec") or {})
            spec.setdefault("interval", release.spec.get("interval", "10m"))
            source = self.source_of(PlannedObject({**release.manifest, "spec": spec}, release.file))
            spec["sourceRef"] = {k: v for k, v in (spec.get("sourceRef") or {}).items() if k != "namespace"}
            manifest = {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "HelmChart",
                "metadata": {"name": f"{release.namespace}-{release.name}", "namespace": source.namespace},
                "spec": spec,
            }
            return PlannedObject(manifest, release.file)
        ref = self._chart_ref(release)
        if ref[0] != "HelmChart":
            return None
        found = next((c for c in self.charts if (c.kind, c.namespace, c.name) == ref), None)
        if found is None:
            raise PlanError(
                f"spec.chartRef names HelmChart/{ref[1]}/{ref[2]}, which is not in this folder; add its "
                "manifest or fix the reference",
                obj=release.ref,
                field="spec.chartRef",
            )
        return found

    def chart_source_of(self, release: PlannedObject) -> PlannedObject:
        """The source the chart of a HelmRelease comes from (a chart template's or HelmChart's
        ``sourceRef``, or the OCIRepository its ``chartRef`` names)."""
        chart = self.chart_of(release)
        if chart is not None:
            return self.source_of(chart)
        kind, namespace, name = self._chart_ref(release)
        for source in self.sources:
            if (source.kind, source.namespace, source.name) == (kind, namespace, name):
                return source
        raise PlanError(
            f"spec.chartRef names {kind}/{namespace}/{name}, which is not in this folder; add its "
            "manifest or fix the reference",
            obj=release.ref,
            field="spec.chartRef",
        )

    @staticmethod
    def _chart_ref(release: PlannedObject) -> tuple[str, str, str]:
        ref = release.spec.get("chartRef") or {}
        if ref.get("kind") not in ("OCIRepository", "HelmChart"):
            raise PlanError(
                f"spec.chartRef kind {ref.get('kind')!r} is not supported here; use an OCIRepository or "
                "a HelmChart, or a chart template in spec.chart",
                obj=release.ref,
                field="spec.chartRef.kind",
            )
        return str(ref["kind"]), str(ref.get("namespace") or release.namespace), str(ref.get("name", ""))

    def subset(self, names: Iterable[str], *, images: bool = False, helm: bool = False) -> ClusterPlan:
        """The named Kustomizations with everything they depend on, and the sources they use;
        with ``images``/``helm`` also the image automation objects and the Helm releases."""
        wanted = set(names)
        unknown = wanted - {k.name for k in self.kustomizations}
        if unknown:
            raise PlanError(f"no Kustomization named {', '.join(sorted(unknown))} in this folder")
        keep: dict[str, PlannedObject] = {}

        def add(obj: PlannedObject) -> None:
            for dep in self.dependencies(obj):
                add(dep)
            keep[obj.ref] = obj

        for obj in self.kustomizations:
            if obj.name in wanted:
                add(obj)
        kustomizations = [k for k in self.kustomizations if k.ref in keep]
        releases = list(self.helm_releases) if helm else []
        used = {self.source_of(k).ref for k in kustomizations} | {
            self.chart_source_of(r).ref for r in releases
        }
        charts = {c.ref for r in releases if (c := self.chart_of(r)) is not None}
        return ClusterPlan(
            sources=[s for s in self.sources if s.ref in used],
            charts=[c for c in self.charts if c.ref in charts],
            kustomizations=kustomizations,
            helm_releases=releases,
            image_objects=list(self.image_objects) if images else [],
        )

    @property
    def interval(self) -> timedelta | None:
        """The shortest reconcile interval: how often a DAG of this folder should run."""
        intervals = [
            parse_duration(str(o.spec["interval"]))
            for o in self.kustomizations + self.helm_releases
            if "interval" in o.spec
        ]
        return min(intervals) if intervals else None


def _documents(path: Path) -> Iterable[PlannedObject]:
    files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
    if not files:
        raise PlanError(f"no YAML files in {path}; point at a folder such as clusters/production")
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise PlanError(f"cannot read {file}: {err}; save it as UTF-8 text") from None
        documents = yaml_documents(text, source=str(file))  # an alias bomb would expand in the DAG
        for doc in documents:
            if isinstance(doc, dict) and doc.get("kind") and doc.get("apiVersion"):
                yield PlannedObject(doc, str(file))


def _ordered(plan: ClusterPlan) -> list[PlannedObject]:
    """Kustomizations with every dependency before its dependents (stable within a level)."""
    done: dict[str, PlannedObject] = {}
    visiting: list[str] = []

    def visit(obj: PlannedObject) -> None:
        if obj.ref in done:
            return
        if obj.ref in visiting:
            cycle = " -> ".join([*visiting[visiting.index(obj.ref) :], obj.ref])
            raise PlanError(
                f"dependsOn forms a cycle: {cycle}; remove one of the edges", field="spec.dependsOn"
            )
        visiting.append(obj.ref)
        for dep in plan.dependencies(obj):
            visit(dep)
        visiting.pop()
        done[obj.ref] = obj

    for obj in plan.kustomizations:
        visit(obj)
    return list(done.values())


def plan_folder(path: str | Path) -> ClusterPlan:
    plan = ClusterPlan()
    documents = list(_documents(Path(path)))
    names = Counter((obj.kind, obj.name) for obj in documents)
    for obj in documents:
        if names[(obj.kind, obj.name)] > 1:
            obj = replace(obj, shares_name=True)
        if obj.kind in SOURCE_KINDS:
            plan.sources.append(obj)
        elif obj.kind == "HelmChart":
            plan.charts.append(obj)
        elif obj.kind == "Kustomization" and obj.manifest["apiVersion"].startswith(
            "kustomize.toolkit.fluxcd.io/"
        ):
            plan.kustomizations.append(obj)
        elif obj.kind == "HelmRelease":
            plan.helm_releases.append(obj)
        elif obj.kind in IMAGE_KINDS:
            plan.image_objects.append(obj)
        else:
            plan.others.append(obj)
    plan.kustomizations = _ordered(plan)
    for obj in plan.kustomizations:
        plan.source_of(obj)
    for chart in plan.charts:
        plan.source_of(chart)
    for release in plan.helm_releases:
        plan.chart_source_of(release)
    return plan
