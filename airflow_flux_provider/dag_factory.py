"""Turn a folder of Flux objects (a cluster's ``clusters/<name>`` folder) into an Airflow DAG.

Each source becomes a fetch task; each Kustomization a render task and a reconcile task,
with ``dependsOn`` as edges between reconciles; image automation objects become scan →
policy → update tasks that run before the fetch of the Git source they write to. The
DAG runs at the shortest ``interval`` of the folder unless a schedule is given.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_flux_provider.cluster_plan import ClusterPlan, PlanError, PlannedObject, plan_folder

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


def _revision_of(fetch_task_id: str) -> str:
    return f"{{{{ ti.xcom_pull(task_ids={fetch_task_id!r})['revision'] }}}}"


def _secret_name(obj: PlannedObject) -> str | None:
    ref = obj.spec.get("secretRef") or {}
    return ref.get("name")


def _source_task(obj: PlannedObject) -> Any:
    from airflow_flux_provider.operators import sources

    operator = getattr(sources, f"{obj.kind}Operator", None)
    if operator is None:
        raise PlanError(f"no operator fetches {obj.kind} sources yet", obj=obj.ref)
    return operator(task_id=obj.task_id, manifest=templated(obj.manifest))


def add_cluster_tasks(
    plan: ClusterPlan,
    *,
    kubernetes_conn_id: str | None = "kubernetes_default",
    mlflow_conn_id: str | None = "flux_mlflow_default",
    cluster_name: str = "default",
    airflow_variables: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Create the tasks of ``plan`` in the current DAG context; returns them by object ref."""
    from airflow_flux_provider.operators.kustomize import KustomizationRenderOperator
    from airflow_flux_provider.operators.reconcile import KustomizationReconcileOperator

    tasks: dict[str, Any] = {source.ref: _source_task(source) for source in plan.sources}
    reconciles: dict[str, Any] = {}
    for ks in plan.kustomizations:
        source = plan.source_of(ks)
        fetch = tasks[source.ref]
        manifest = templated(ks.manifest)
        render = KustomizationRenderOperator(
            task_id=f"render_{ks.task_id.removeprefix('kustomization_')}",
            manifest=manifest,
            source_artifact=fetch.output,
            airflow_variables=(airflow_variables or {}).get(ks.name, []),
            kubernetes_conn_id=kubernetes_conn_id,
        )
        reconcile = KustomizationReconcileOperator(
            task_id=f"reconcile_{ks.task_id.removeprefix('kustomization_')}",
            manifest=manifest,
            rendered=render.output,
            revision=_revision_of(fetch.task_id),
            # Flux checks a dependency's revision only when both build from the same source.
            depends_on_revisions={
                dep.name: _revision_of(fetch.task_id)
                for dep in plan.dependencies(ks)
                if plan.source_of(dep).ref == source.ref
            },
            kubernetes_conn_id=kubernetes_conn_id,
            mlflow_conn_id=mlflow_conn_id,
            cluster_name=cluster_name,
        )
        fetch >> render >> reconcile
        for dep in plan.dependencies(ks):
            reconciles[dep.ref] >> reconcile
        tasks[f"render:{ks.ref}"] = render
        tasks[ks.ref] = reconciles[ks.ref] = reconcile
    tasks.update(_image_tasks(plan, tasks))
    tasks.update(_helm_tasks(plan, tasks, kubernetes_conn_id, mlflow_conn_id, cluster_name))
    return tasks


def _helm_tasks(
    plan: ClusterPlan,
    tasks: dict[str, Any],
    kubernetes_conn_id: str | None,
    mlflow_conn_id: str | None,
    cluster_name: str,
) -> dict[str, Any]:
    """HelmChart (from the release's chart source, as Flux creates it) → HelmRelease."""
    from airflow_flux_provider.operators.helm import HelmReleaseOperator
    from airflow_flux_provider.operators.sources import HelmChartOperator

    created: dict[str, Any] = {}
    for release in plan.helm_releases:
        source = plan.chart_source_of(release)
        planned = plan.chart_of(release)
        name = release.task_id.removeprefix("helmrelease_")
        if planned is None:  # a chartRef to an OCIRepository: its artifact is the chart
            chart = tasks[source.ref]
        elif source.kind == "HelmRepository":
            chart = HelmChartOperator(
                task_id=f"helmchart_{name}",
                manifest=templated(planned.manifest),
                repository=templated(source.manifest),
            )
        else:
            chart = HelmChartOperator(
                task_id=f"helmchart_{name}",
                manifest=templated(planned.manifest),
                source_artifact=tasks[source.ref].output,
            )
            tasks[source.ref] >> chart
        packaged: Any = chart.output  # resolved to the chart task's XCom at run time
        created[release.ref] = HelmReleaseOperator(
            task_id=release.task_id,
            manifest=templated(release.manifest),
            chart=packaged,
            kubernetes_conn_id=kubernetes_conn_id,
            mlflow_conn_id=mlflow_conn_id,
            cluster_name=cluster_name,
        )
        chart >> created[release.ref]
        created[f"chart:{release.ref}"] = chart
    return created


def _image_tasks(plan: ClusterPlan, tasks: dict[str, Any]) -> dict[str, Any]:
    """ImageRepository → ImagePolicy → ImageUpdateAutomation, before the fetch of the Git source."""
    from airflow_flux_provider.operators.images import (
        ImagePolicyOperator,
        ImageRepositoryScanOperator,
        ImageUpdateAutomationOperator,
    )

    created: dict[str, Any] = {}
    by_kind = {kind: [o for o in plan.image_objects if o.kind == kind] for kind in
               ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")}  # fmt: skip
    scans = {
        (repo.namespace, repo.name): ImageRepositoryScanOperator(
            task_id=repo.task_id, manifest=templated(repo.manifest), registry_conn_id=_secret_name(repo)
        )
        for repo in by_kind["ImageRepository"]
    }
    policies = []
    for policy in by_kind["ImagePolicy"]:
        ref = policy.spec.get("imageRepositoryRef") or {}
        scan = scans.get((str(ref.get("namespace") or policy.namespace), str(ref.get("name"))))
        if scan is None:
            raise PlanError("imageRepositoryRef names an ImageRepository not in this folder",
                            obj=policy.ref, field="spec.imageRepositoryRef")  # fmt: skip
        task = ImagePolicyOperator(
            task_id=policy.task_id, manifest=templated(policy.manifest), tags=scan.output
        )
        scan >> task
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
        )
        policies >> update >> tasks[source.ref]
        created[automation.ref] = update
    return created


def flux_dag(path: str | Path, *, dag_id: str, schedule: Any = "from-interval", **kwargs: Any) -> Any:
    """A DAG reconciling the Flux objects under ``path``; ``kwargs`` go to :func:`add_cluster_tasks`
    (connection ids, cluster name) and the rest to the DAG."""
    from airflow.sdk import DAG

    plan = plan_folder(path)
    task_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in (
        "kubernetes_conn_id", "mlflow_conn_id", "cluster_name", "airflow_variables")}  # fmt: skip
    if schedule == "from-interval":
        schedule = plan.interval
    with DAG(dag_id=dag_id, schedule=schedule, **kwargs) as dag:
        add_cluster_tasks(plan, **task_kwargs)
    return dag
