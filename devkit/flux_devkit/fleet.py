"""A fleet of tiny apps: one Git repository, one cluster folder of N Kustomizations (scale tests, benches).

Each app is a folder ``apps/app-<i>`` holding one ConfigMap named by the Kustomization's
``postBuild`` variable, so every Kustomization renders and applies something of its own and the
cost is the orchestration's, not the objects'.
"""

from __future__ import annotations

from pathlib import Path

from flux_devkit.services.git_http import GitServer


def tiny_apps_cluster(name: str, url: str, apps: int) -> tuple[str, dict[str, str | bytes]]:
    """The cluster folder's YAML (a GitRepository ``name`` at ``url`` with the ``git-credentials``
    secretRef, Kustomizations ``<name>-<i>``) and the repository's files.

    App ``i`` applies the ConfigMap ``default/<name>-app-<i>`` with ``data.app: "<i>"``.
    """
    source = f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: {name}, namespace: flux-system}}
spec: {{interval: 5m, url: {url}, ref: {{branch: main}}, secretRef: {{name: git-credentials}}}}
"""
    kustomizations = [
        f"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {name}-{i:03d}, namespace: flux-system}}
spec:
  interval: 5m
  prune: true
  path: ./apps/app-{i:03d}
  sourceRef: {{kind: GitRepository, name: {name}}}
  postBuild: {{substitute: {{APP: app-{i:03d}}}}}
"""
        for i in range(apps)
    ]
    files: dict[str, str | bytes] = {
        f"apps/app-{i:03d}/config.yaml": (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-${{APP}}\n  namespace: default\n"
            f"data:\n  app: '{i}'\n"
        )
        for i in range(apps)
    }
    return "---\n".join([source, *kustomizations]), files


def fleet_dag(
    dags_folder: Path, git_server: GitServer, name: str, apps: int, *, pool: str | None = None
) -> str:
    """Push the fleet ``name`` to ``git_server``, write its cluster folder beside ``dags_folder``
    and a ``flux_dag`` file into it; return the DAG id (``name`` with ``_`` for ``-``).

    ``pool``: the Airflow pool its tasks take their slots from (it must exist), so a fleet
    sharing an Airflow with other DAGs leaves them slots. Its tasks then also take the lowest
    priority: a slot is not enough, because the scheduler queues ready tasks by priority and
    the executor's slots refill as fast as the fleet's tasks end, so another DAG's task waited
    minutes behind a few hundred of the fleet's at the default weights."""
    url = git_server.repo_url(name)
    cluster, files = tiny_apps_cluster(name, url, apps)
    git_server.create_repo(name, files)
    folder = dags_folder.parent / f"cluster-{name}"
    folder.mkdir()
    (folder / "cluster.yaml").write_text(cluster)
    dag_id = name.replace("-", "_")
    behind = {"pool": pool, "priority_weight": 0, "weight_rule": "absolute"} if pool else None
    (dags_folder / f"{dag_id}.py").write_text(
        "from airflow_flux_provider.dag_factory import flux_dag\n\n"
        f"flux_dag({str(folder)!r}, dag_id={dag_id!r}, schedule=None, catchup=False"
        + (f", default_args={behind!r}" if behind else "")
        + ")\n"
    )
    return dag_id
