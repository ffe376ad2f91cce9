"""A folder of Flux objects becomes a DAG that fetches, renders and reconciles into the sandbox."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk import DAG, Param
from airflow.sdk.exceptions import AirflowFailException

from airflow_flux_provider.cluster_plan import PlanError, plan_folder
from airflow_flux_provider.dag_factory import add_cluster_tasks, flux_dag, templated
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kube.record import load_record
from tests.dags.cluster_dags import load_dag, use_cluster_connections

CLUSTER = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: factory-repo, namespace: flux-system}
spec:
  interval: 1m
  url: ${GIT_URL}
  ref: {branch: main}
  secretRef: {name: git-credentials}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: infra, namespace: flux-system}
spec:
  interval: 10m
  prune: true
  path: ./infra
  sourceRef: {kind: GitRepository, name: factory-repo}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 5m
  prune: true
  wait: true
  timeout: 1m
  path: ./apps
  dependsOn: [{name: infra}]
  sourceRef: {kind: GitRepository, name: factory-repo}
  postBuild:
    substitute: {REPLICAS: "${REPLICAS:-2}"}
"""
REPO = {
    "infra/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: factory-apps}\n",
    "apps/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: factory-apps}
spec:
  replicas: ${REPLICAS}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: ghcr.io/company/web:1.0.0}]}
""",
    "apps/settings.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: factory-apps}\n"
        "data: {mode: blue}\n"
    ),
}
DAG_FILE = """
from airflow_flux_provider.dag_factory import flux_dag

dag = flux_dag({folder!r}, dag_id="factory_cluster", catchup=False)
"""


def test_placeholders_become_run_time_lookups_and_go_templates_stay_literal():
    manifest = templated(
        {
            "spec": {
                "url": "${GIT_URL}",
                "image": "${REGISTRY:-localhost:5000}/app",
                "message": "{{ .AutomationObject }}",
                "postBuild": {"substitute": {"A": "${A:-x}", "KEEP": "$${HOME} $$1"}},
            }
        }
    )
    assert manifest["spec"]["url"] == (
        "{{ (dag_run.conf or {}).get('GIT_URL') or params.get('GIT_URL') or var.value['GIT_URL'] }}"
    )
    assert "var.value.get('REGISTRY', 'localhost:5000') }}/app" in manifest["spec"]["image"]
    assert manifest["spec"]["message"] == "{% raw %}{{ .AutomationObject }}{% endraw %}"
    # The parent level: postBuild values are filled here, once; the build inserts them literally.
    substitute = manifest["spec"]["postBuild"]["substitute"]
    assert substitute["A"].endswith("or params.get('A') or var.value.get('A', 'x') }}")
    assert substitute["KEEP"] == "${HOME} $1"  # envsubst's $$ escape, as a substituting parent applies it


def test_cluster_folder_dag_reconciles_in_dependency_order(
    airflow_home, git_server, sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    url = git_server.create_repo("factory-repo", REPO)
    folder = tmp_path / "clusters"
    folder.mkdir()
    (folder / "cluster.yaml").write_text(CLUSTER)
    (tmp_path / "factory_dag.py").write_text(DAG_FILE.format(folder=str(folder)))
    use_cluster_connections(monkeypatch, git_server, sandbox)
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(tmp_path / "artifacts"))
    monkeypatch.setenv("AIRFLOW_VAR_GIT_URL", url)
    dag = load_dag(tmp_path / "factory_dag.py", "factory_cluster", monkeypatch)
    # the render, the dependency, and the fetch whose revision the reconcile records (an XComArg)
    assert dag.get_task("reconcile_apps").upstream_task_ids == {
        "reconcile_infra",
        "render_apps",
        "gitrepository_factory_repo",
    }

    run = dag.test(run_conf={"REPLICAS": "3"})
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}

    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    deployment = cluster.get(ObjectKey("apps/v1", "Deployment", "factory-apps", "web"))
    assert deployment["spec"]["replicas"] == 3  # the trigger conf reached postBuild substitution
    assert deployment["status"]["availableReplicas"] == 3  # the wait saw it roll out
    record = load_record(cluster, "Kustomization", "apps", "flux-system")
    assert record.is_ready and record.last_applied_revision.startswith("main@sha1:")
    assert sorted(k.name for k in record.inventory.object_keys()) == ["settings", "web"]

    # The ConfigMap leaves Git: the next run prunes exactly it.
    git_server.commit("factory-repo", {}, message="drop settings", delete=["apps/settings.yaml"])
    run = dag.test(run_conf={"REPLICAS": "3"})
    assert run.state == "success"
    assert cluster.get(ObjectKey("v1", "ConfigMap", "factory-apps", "settings")) is None
    assert cluster.get(ObjectKey("apps/v1", "Deployment", "factory-apps", "web")) is not None


STRICT_DAG_FILE = """
from airflow.sdk import Param

from airflow_flux_provider.dag_factory import flux_dag

dag = flux_dag({folder!r}, dag_id="factory_strict", catchup=False, params={{"TIER": Param("gold")}})
"""


def test_unknown_trigger_conf_keys_fail_the_first_task(
    airflow_home, git_server, sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A misspelt key (REPLICA for REPLICAS) would leave the run on its defaults: the fetch fails
    before anything is applied, naming the key and the keys the DAG reads (params and placeholders)."""
    url = git_server.create_repo("strict-repo", REPO)
    folder = tmp_path / "clusters"
    folder.mkdir()
    (folder / "cluster.yaml").write_text(CLUSTER)
    (tmp_path / "strict_dag.py").write_text(STRICT_DAG_FILE.format(folder=str(folder)))
    use_cluster_connections(monkeypatch, git_server, sandbox)
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(tmp_path / "artifacts"))
    monkeypatch.setenv("AIRFLOW_VAR_GIT_URL", url)
    dag = load_dag(tmp_path / "strict_dag.py", "factory_strict", monkeypatch)
    check = dag.get_task("gitrepository_factory_repo")._pre_execute_hook
    with pytest.raises(AirflowFailException) as err:
        check({"dag": dag, "dag_run": SimpleNamespace(conf={"REPLICA": "3", "TIER": "silver"})})
    assert "does not read: 'REPLICA'; it reads GIT_URL, REPLICAS, TIER." in str(err.value)
    check({"dag": dag, "dag_run": SimpleNamespace(conf={"REPLICAS": "3", "TIER": "silver", "GIT_URL": url})})
    unchecked = SimpleNamespace(dag_id="open", params={})  # no params: any key may be a build variable
    check({"dag": unchecked, "dag_run": SimpleNamespace(conf={"ANYTHING": "1"})})

    run = dag.test(run_conf={"REPLICA": "3"})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states.pop("gitrepository_factory_repo") == "failed"
    assert set(states.values()) == {"upstream_failed"}


HELM_FOLDER = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: repo, namespace: flux-system}
spec: {interval: 1m, url: https://git.example.com/repo, ref: {branch: main}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: charts, namespace: flux-system}
spec: {interval: 1m, url: oci://registry.example.com/charts/web, ref: {tag: 1.0.0}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: apps}
spec:
  interval: 5m
  chart: {spec: {chart: ./charts/web, sourceRef: {kind: GitRepository, name: repo, namespace: flux-system}}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: packaged, namespace: apps}
spec:
  interval: 5m
  chartRef: {kind: OCIRepository, name: charts, namespace: flux-system}
"""


def test_helm_releases_take_their_chart_from_a_helmchart_or_an_oci_source(tmp_path: Path) -> None:
    from airflow_flux_provider.dag_factory import flux_dag

    (tmp_path / "cluster.yaml").write_text(HELM_FOLDER)
    dag = flux_dag(tmp_path, dag_id="helm_charts")
    assert dag.get_task("helmrelease_web").upstream_task_ids == {"helmchart_web"}
    assert dag.get_task("helmchart_web").upstream_task_ids == {"gitrepository_repo"}
    assert dag.get_task("helmchart_web").manifest["metadata"] == {
        "name": "apps-web",
        "namespace": "flux-system",
    }
    assert dag.get_task("helmrelease_packaged").upstream_task_ids == {"ocirepository_charts"}


TWO_NAMESPACES = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: repo, namespace: flux-system}
spec: {interval: 1m, url: "https://git.invalid/repo", ref: {branch: main}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: team-a}
spec:
  {interval: 5m, prune: true, path: ./a, sourceRef: {kind: GitRepository, name: repo, namespace: flux-system}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: team-b}
spec:
  {interval: 5m, prune: true, path: ./b, sourceRef: {kind: GitRepository, name: repo, namespace: flux-system}}
"""


def test_cluster_tasks_are_found_by_name_and_namespace(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(TWO_NAMESPACES)
    with DAG(dag_id="accessors", schedule=None):
        tasks = add_cluster_tasks(plan_folder(tmp_path))
    assert (
        tasks.reconcile("apps", "team-b").task_id == "reconcile_apps_2"
        or tasks.reconcile("apps", "team-b") is tasks.reconciles["Kustomization/team-b/apps"]
    )
    assert tasks.render("apps", "team-a") is tasks.renders["Kustomization/team-a/apps"]
    assert tasks.source("GitRepository", "repo").task_id == "gitrepository_repo"
    with pytest.raises(PlanError, match=r"more than one Kustomization named 'apps'.*give the namespace"):
        tasks.reconcile("apps")
    with pytest.raises(PlanError, match=r"no HelmRelease named 'web' in this plan \(it has: none\)"):
        tasks.release("web")
    with pytest.raises(PlanError, match=r"no Kustomization named 'apps' in namespace 'team-c'.*team-a/apps"):
        tasks.render("apps", "team-c")
    reconcile = tasks.reconciles["Kustomization/team-a/apps"]
    assert reconcile.upstream_task_ids == {
        tasks.renders["Kustomization/team-a/apps"].task_id,
        "gitrepository_repo",
    }


MONITORING = """
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: monitoring, namespace: flux-system}
spec: {interval: 5m, prune: true, path: ./monitoring, sourceRef: {kind: GitRepository, name: factory-repo}}
"""


def test_a_task_process_builds_only_the_tasks_its_task_is_wired_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow names the DAG and task a task process parses for (its parsing context): the
    reconcile of ``apps`` gets its render, the ``infra`` it dependsOn and the fetch, each as in the
    whole DAG; a fetch gets the sources only; the dag-processor and other DAGs' tasks see it whole."""
    (tmp_path / "cluster.yaml").write_text(CLUSTER + MONITORING)

    def parse() -> DAG:
        return flux_dag(tmp_path, dag_id="wired", schedule=None, params={"TIER": Param("gold")})

    whole = parse()
    assert len(whole.task_ids) == 7

    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "wired")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "reconcile_apps")
    running = parse()
    assert set(running.task_ids) == {
        "gitrepository_factory_repo",
        "render_infra",
        "reconcile_infra",
        "render_apps",
        "reconcile_apps",
    }
    for task in running.tasks:
        same = whole.get_task(task.task_id)
        assert task.upstream_task_ids == same.upstream_task_ids, task.task_id
        assert task.manifest == same.manifest, task.task_id
    assert running.schedule == whole.schedule  # still watched for reconcile requests

    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "gitrepository_factory_repo")
    fetch = parse()
    assert fetch.task_ids == ["gitrepository_factory_repo"]
    # the fetch checks the run's conf against every placeholder of the folder, as in the whole DAG
    check = fetch.get_task("gitrepository_factory_repo")._pre_execute_hook
    with pytest.raises(AirflowFailException, match="it reads GIT_URL, REPLICAS, TIER"):
        check({"dag": fetch, "dag_run": SimpleNamespace(conf={"REPLICA": "3"})})

    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "another_dag")
    assert len(parse().task_ids) == 7
