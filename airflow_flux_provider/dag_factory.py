"""Turn a folder of Flux objects (a cluster's ``clusters/<name>`` folder) into an Airflow DAG.

Each source becomes a fetch task; each Kustomization a render task and a reconcile task,
with ``dependsOn`` as edges between reconciles; image automation objects become scan →
policy → update tasks that run before the fetch of the Git source they write to. The
DAG runs at the shortest ``interval`` of the folder unless a schedule is given, and whenever
``flux reconcile`` (the ``reconcile.fluxcd.io/requestedAt`` annotation) asks for one of its
objects (an ``AssetWatcher`` in the triggerer, :mod:`~airflow_flux_provider.triggers.reconcile_requests`).

``${VAR}`` placeholders in the manifests (a source URL, a registry host, a
``postBuild.substitute`` value such as ``EXPERIMENT_ID: "${EXPERIMENT_ID:-default}"``) are
filled when a task runs, from the run's trigger conf, then the DAG params, then the Airflow
Variable of that name, then the placeholder's own default. This is the parent level: Flux
fills a child Kustomization's placeholders when its parent applies it, and the child's build
then inserts its ``postBuild.substitute`` values literally. ``$${VAR}`` keeps a literal
``${VAR}``, as Flux's envsubst does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_flux_provider.cluster_plan import ClusterPlan, PlanError, PlannedObject, plan_folder
from airflow_flux_provider.hooks import KUBERNETES_CONN_ID, MLFLOW_CONN_ID
from airflow_flux_provider.trigger_conf import ConfCheck

if TYPE_CHECKING:  # the operators load when a plan is turned into tasks
    from airflow.sdk import DAG, Asset, BaseOperator

    from airflow_flux_provider.operators.helm import HelmReleaseOperator
    from airflow_flux_provider.operators.kustomize import KustomizationRenderOperator
    from airflow_flux_provider.operators.reconcile import KustomizationReconcileOperator
    from airflow_flux_provider.operators.sources import HelmChartOperator, SourceOperator

_PLACEHOLDER = re.compile(r"\$\$|\$\{([_a-zA-Z][_a-zA-Z0-9]*)(?::?[-=]([^}]*))?\}")


def _jinja(text: str) -> str:
    """``text`` with placeholders as Jinja lookups; literal parts kept raw (Go templates stay intact)."""
    parts: list[str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append(_raw(text[last : match.start()]))
        last = match.end()
        if match.group(0) == "$$":  # envsubst's escape: "$${VAR}" stays "${VAR}"
            parts.append("$")
            continue
        name, default = match.group(1), match.group(2)
        fallback = f"var.value.get({name!r}, {default!r})" if default is not None else f"var.value[{name!r}]"
        parts.append(f"{{{{ (dag_run.conf or {{}}).get({name!r}) or params.get({name!r}) or {fallback} }}}}")
    parts.append(_raw(text[last:]))
    return "".join(parts)


def _raw(literal: str) -> str:
    return f"{{% raw %}}{literal}{{% endraw %}}" if ("{{" in literal or "{%" in literal) else literal


def templated(value: Any) -> Any:
    """A manifest whose strings resolve their placeholders at run time (see the module docstring)."""
    if isinstance(value, dict):
        return {k: templated(v) for k, v in value.items()}
    if isinstance(value, list):
        return [templated(v) for v in value]
    if isinstance(value, str):
        return _jinja(value)
    return value


def placeholders(value: Any) -> set[str]:
    """The variable names of the ``${VAR}`` placeholders in a manifest."""
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value))
    if isinstance(value, str):
        return {match.group(1) for match in _PLACEHOLDER.finditer(value) if match.group(1)}
    return set()


def _secret_name(obj: PlannedObject) -> str | None:
    ref = obj.spec.get("secretRef") or {}
    return ref.get("name")


@dataclass(frozen=True)
class ClusterTasks:
    """The tasks made for a plan, each under the ref of the Flux object it acts on
    (``Kind/namespace/name``); the accessors find one by name (and namespace when two share it)."""

    sources: Mapping[str, SourceOperator] = field(default_factory=dict)
    renders: Mapping[str, KustomizationRenderOperator] = field(default_factory=dict)
    reconciles: Mapping[str, KustomizationReconcileOperator] = field(default_factory=dict)
    charts: Mapping[str, HelmChartOperator] = field(default_factory=dict)
    releases: Mapping[str, HelmReleaseOperator] = field(default_factory=dict)
    images: Mapping[str, BaseOperator] = field(default_factory=dict)

    def source(self, kind: str, name: str, namespace: str | None = None) -> SourceOperator:
        return _one(self.sources, kind, name, namespace)

    def render(self, name: str, namespace: str | None = None) -> KustomizationRenderOperator:
        return _one(self.renders, "Kustomization", name, namespace)

    def reconcile(self, name: str, namespace: str | None = None) -> KustomizationReconcileOperator:
        return _one(self.reconciles, "Kustomization", name, namespace)

    def chart(self, name: str, namespace: str | None = None) -> HelmChartOperator:
        """The HelmChart task of the HelmRelease ``name``."""
        return _one(self.charts, "HelmRelease", name, namespace)

    def release(self, name: str, namespace: str | None = None) -> HelmReleaseOperator:
        return _one(self.releases, "HelmRelease", name, namespace)

    def image(self, kind: str, name: str, namespace: str | None = None) -> BaseOperator:
        return _one(self.images, kind, name, namespace)


_T = TypeVar("_T")


def _one(tasks: Mapping[str, _T], kind: str, name: str, namespace: str | None) -> _T:
    found = [
        task
        for ref, task in tasks.items()
        if ref.startswith(f"{kind}/")
        and ref.endswith(f"/{name}")
        and (namespace is None or ref == f"{kind}/{namespace}/{name}")
    ]
    if len(found) != 1:
        where = f" in namespace {namespace!r}" if namespace else ""
        known = ", ".join(ref for ref in tasks if ref.startswith(f"{kind}/")) or "none"
        problem = "no" if not found else "more than one"
        raise PlanError(
            f"{problem} {kind} named {name!r}{where} in this plan (it has: {known})"
            + ("; give the namespace" if found else "")
        )
    return found[0]


def _render_and_reconcile_ids(kustomization: PlannedObject) -> tuple[str, str]:
    name = kustomization.task_id.removeprefix("kustomization_")
    return f"render_{name}", f"reconcile_{name}"


def _source_task(obj: PlannedObject, kubernetes_conn_id: str, conf_check: ConfCheck) -> SourceOperator:
    from airflow_flux_provider.operators import sources

    operator = getattr(sources, f"{obj.kind}Operator", None)
    if operator is None:
        raise PlanError(f"no operator fetches {obj.kind} sources yet", obj=obj.ref)
    task: SourceOperator = operator(
        task_id=obj.task_id,
        manifest=templated(obj.manifest),
        kubernetes_conn_id=kubernetes_conn_id,
        pre_execute=conf_check,
    )
    return task


def add_cluster_tasks(
    plan: ClusterPlan,
    *,
    kubernetes_conn_id: str = KUBERNETES_CONN_ID,
    mlflow_conn_id: str | None = MLFLOW_CONN_ID,
    cluster_name: str = "default",
    airflow_variables: Mapping[str, list[str]] | None = None,
    variables: Mapping[str, Mapping[str, Any]] | None = None,
    kustomizations: Sequence[PlannedObject] | None = None,
) -> ClusterTasks:
    """Create the tasks of ``plan`` in the current DAG context.

    ``airflow_variables`` and ``variables`` are keyed by Kustomization name: the Airflow
    Variables its render reads, and extra postBuild variables (values may be XComArgs, e.g.
    ``{"ml-serving": {"MODEL_VERSION": champion["version"]}}``, which also order the tasks).
    ``kustomizations``: make render and reconcile tasks for these only (with every one they
    ``dependsOn``), not for all of the plan's.
    """
    from airflow.sdk import XComArg

    from airflow_flux_provider.operators.kustomize import KustomizationRenderOperator
    from airflow_flux_provider.operators.reconcile import KustomizationReconcileOperator

    planned = [*plan.sources, *plan.charts, *plan.kustomizations, *plan.helm_releases, *plan.image_objects]
    # Sources and image scans are the plan's first tasks: they check the run's conf keys.
    conf_check = ConfCheck(frozenset(set().union(*(placeholders(o.manifest) for o in planned))))
    sources = {source.ref: _source_task(source, kubernetes_conn_id, conf_check) for source in plan.sources}
    renders: dict[str, KustomizationRenderOperator] = {}
    reconciles: dict[str, KustomizationReconcileOperator] = {}
    for ks in plan.kustomizations if kustomizations is None else plan.with_dependencies(kustomizations):
        source = plan.source_of(ks)
        fetch = sources[source.ref]
        manifest = templated(ks.manifest)
        render_id, reconcile_id = _render_and_reconcile_ids(ks)
        render = KustomizationRenderOperator(
            task_id=render_id,
            manifest=manifest,
            source_artifact=fetch.output,
            airflow_variables=(airflow_variables or {}).get(ks.name, []),
            variables=dict((variables or {}).get(ks.name, {})),
            kubernetes_conn_id=kubernetes_conn_id,
        )
        reconcile = KustomizationReconcileOperator(
            task_id=reconcile_id,
            manifest=manifest,
            rendered=render.output,
            revision=XComArg(fetch, key="revision"),
            # Flux checks a dependency's revision only when both build from the same source.
            depends_on_revisions={
                dep.name: XComArg(fetch, key="revision")
                for dep in plan.dependencies(ks)
                if plan.source_of(dep).ref == source.ref
            },
            kubernetes_conn_id=kubernetes_conn_id,
            mlflow_conn_id=mlflow_conn_id,
            cluster_name=cluster_name,
        )
        for dep in plan.dependencies(ks):
            reconciles[dep.ref] >> reconcile
        renders[ks.ref] = render
        reconciles[ks.ref] = reconcile
    charts, releases = _helm_tasks(plan, sources, kubernetes_conn_id, mlflow_conn_id, cluster_name)
    return ClusterTasks(
        sources=sources,
        renders=renders,
        reconciles=reconciles,
        charts=charts,
        releases=releases,
        images=_image_tasks(plan, sources, kubernetes_conn_id, conf_check),
    )


def _helm_tasks(
    plan: ClusterPlan,
    sources: Mapping[str, SourceOperator],
    kubernetes_conn_id: str,
    mlflow_conn_id: str | None,
    cluster_name: str,
) -> tuple[dict[str, HelmChartOperator], dict[str, HelmReleaseOperator]]:
    """HelmChart (from the release's chart source, as Flux creates it) → HelmRelease."""
    from airflow_flux_provider.operators.helm import HelmReleaseOperator
    from airflow_flux_provider.operators.sources import HelmChartOperator

    charts: dict[str, HelmChartOperator] = {}
    releases: dict[str, HelmReleaseOperator] = {}
    for release in plan.helm_releases:
        source = plan.chart_source_of(release)
        planned = plan.chart_of(release)
        name = release.task_id.removeprefix("helmrelease_")
        if planned is None:  # a chartRef to an OCIRepository: its artifact is the chart
            chart: BaseOperator = sources[source.ref]
        else:
            from_source: dict[str, Any] = (
                {"repository": templated(source.manifest)}
                if source.kind == "HelmRepository"
                else {"source_artifact": sources[source.ref].output}
            )
            chart = charts[release.ref] = HelmChartOperator(
                task_id=f"helmchart_{name}",
                manifest=templated(planned.manifest),
                kubernetes_conn_id=kubernetes_conn_id,
                **from_source,
            )
        releases[release.ref] = HelmReleaseOperator(
            task_id=release.task_id,
            manifest=templated(release.manifest),
            chart=chart.output,
            kubernetes_conn_id=kubernetes_conn_id,
            mlflow_conn_id=mlflow_conn_id,
            cluster_name=cluster_name,
        )
    return charts, releases


def _image_tasks(
    plan: ClusterPlan, sources: Mapping[str, SourceOperator], kubernetes_conn_id: str, conf_check: ConfCheck
) -> dict[str, BaseOperator]:
    """ImageRepository → ImagePolicy → ImageUpdateAutomation, before the fetch of the Git source."""
    from airflow_flux_provider.operators.images import (
        ImagePolicyOperator,
        ImageRepositoryScanOperator,
        ImageUpdateAutomationOperator,
    )

    created: dict[str, BaseOperator] = {}
    by_kind = {kind: [o for o in plan.image_objects if o.kind == kind] for kind in
               ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")}  # fmt: skip
    scans = {
        (repo.namespace, repo.name): ImageRepositoryScanOperator(
            task_id=repo.task_id,
            manifest=templated(repo.manifest),
            kubernetes_conn_id=kubernetes_conn_id,
            pre_execute=conf_check,
        )
        for repo in by_kind["ImageRepository"]
    }
    for repo in by_kind["ImageRepository"]:
        created[repo.ref] = scans[(repo.namespace, repo.name)]
    policies = []
    for policy in by_kind["ImagePolicy"]:
        ref = policy.spec.get("imageRepositoryRef") or {}
        scan = scans.get((str(ref.get("namespace") or policy.namespace), str(ref.get("name"))))
        if scan is None:
            raise PlanError("imageRepositoryRef names an ImageRepository not in this folder",
                            obj=policy.ref, field="spec.imageRepositoryRef")  # fmt: skip
        task = ImagePolicyOperator(
            task_id=policy.task_id,
            manifest=templated(policy.manifest),
            tags=scan.output,
            kubernetes_conn_id=kubernetes_conn_id,
        )
        policies.append(task)
        created[policy.ref] = task
    for automation in by_kind["ImageUpdateAutomation"]:
        source = plan.source_of(automation)
        update = ImageUpdateAutomationOperator(
            task_id=automation.task_id,
            manifest=templated(automation.manifest),
            policies=[p.output for p in policies],
            url=templated(source.spec.get("url", "")),
            git_conn_id=_secret_name(source),
            kubernetes_conn_id=kubernetes_conn_id,
        )
        update >> sources[source.ref]
        created[automation.ref] = update
    return created


def reconcile_requests(
    plan: ClusterPlan, *, dag_id: str, kubernetes_conn_id: str, poll_interval: float
) -> Asset:
    """An Asset whose watcher fires when one of the plan's objects gets a ``flux reconcile``
    request (``reconcile.fluxcd.io/requestedAt``); a DAG scheduled on it runs for each."""
    from airflow.sdk import Asset, AssetWatcher

    from airflow_flux_provider.triggers.reconcile_requests import ReconcileRequestTrigger

    watched = (*plan.sources, *plan.kustomizations, *plan.helm_releases, *plan.image_objects)
    trigger = ReconcileRequestTrigger(
        objects=[[o.kind, o.namespace, o.name] for o in watched],
        kubernetes_conn_id=kubernetes_conn_id,
        poll_interval=poll_interval,
    )
    name = f"flux-reconcile-requests-{dag_id}"
    return Asset(name=name, watchers=[AssetWatcher(name=name, trigger=trigger)])


def _or_requested(schedule: Any, requests: Asset) -> Any:
    """``schedule`` (None, a timedelta, a cron string or an asset condition), or a request."""
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, DeltaTriggerTimetable
    from airflow.sdk.definitions.asset import BaseAsset

    if schedule is None:
        return requests
    if isinstance(schedule, BaseAsset):
        return schedule | requests
    if isinstance(schedule, timedelta):
        return AssetOrTimeSchedule(timetable=DeltaTriggerTimetable(schedule), assets=requests)
    if isinstance(schedule, str):
        return AssetOrTimeSchedule(timetable=CronTriggerTimetable(schedule, timezone="UTC"), assets=requests)
    raise PlanError(
        f"schedule {schedule!r} cannot be combined with reconcile requests; give None, a timedelta, a "
        "cron string or an asset condition, or pass request_poll_interval=None"
    )


def flux_dag(
    path: str | Path,
    *,
    dag_id: str,
    schedule: Any = "from-interval",
    kubernetes_conn_id: str = KUBERNETES_CONN_ID,
    mlflow_conn_id: str | None = MLFLOW_CONN_ID,
    cluster_name: str = "default",
    airflow_variables: Mapping[str, list[str]] | None = None,
    request_poll_interval: float | None = 30.0,
    **dag_kwargs: Any,
) -> DAG:
    """A DAG reconciling the Flux objects under ``path`` (see :func:`add_cluster_tasks`);
    ``dag_kwargs`` go to the DAG.

    Besides ``schedule``, a ``flux reconcile`` of one of its objects starts a run: the triggerer
    polls the objects every ``request_poll_interval`` seconds (None: not watched)."""
    from airflow.sdk import DAG

    plan = plan_folder(path)
    if schedule == "from-interval":
        schedule = plan.interval
    if request_poll_interval is not None:
        requests = reconcile_requests(
            plan, dag_id=dag_id, kubernetes_conn_id=kubernetes_conn_id, poll_interval=request_poll_interval
        )
        schedule = _or_requested(schedule, requests)
    with DAG(dag_id=dag_id, schedule=schedule, **dag_kwargs) as dag:
        add_cluster_tasks(
            plan,
            kubernetes_conn_id=kubernetes_conn_id,
            mlflow_conn_id=mlflow_conn_id,
            cluster_name=cluster_name,
            airflow_variables=airflow_variables,
            kustomizations=_kustomizations_of_running_task(plan, dag_id),
        )
    return dag


def _kustomizations_of_running_task(plan: ClusterPlan, dag_id: str) -> list[PlannedObject] | None:
    """In a task process of this DAG (Airflow's parsing context names the task), the Kustomization
    whose render or reconcile it runs, or none for a source, Helm or image task; None (all)
    elsewhere: the dag-processor and the scheduler always see the whole DAG.

    A task process builds its DAG only to run one task; a 200-Kustomization fleet's 401 tasks
    took 0.2 s of CPU to build, per task process, more than most of the task's own work."""
    from airflow.sdk import get_parsing_context

    running = get_parsing_context()
    if running.dag_id != dag_id or running.task_id is None:
        return None
    return [ks for ks in plan.kustomizations if running.task_id in _render_and_reconcile_ids(ks)]
