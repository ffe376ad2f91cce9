"""``bootstrap``: what ``flux bootstrap git`` does, with Airflow as the controllers.

    python -m airflow_flux_provider bootstrap --url URL --branch main --path clusters/NAME
        [--username U] [--password P | env GIT_PASSWORD] [--interval 1m]
        [--kubeconfig K] [--context C] [--dags-folder DIR]

1. The repository gets the lecture's layout where it is missing: ``<path>/flux-system/``
   with the ``flux-system`` GitRepository and the Kustomization that manages ``<path>``
   itself (both rewritten when a flag changes them), ``<path>/infrastructure.yaml`` and
   ``<path>/apps.yaml`` (Kustomizations of ``./infrastructure`` and ``./apps``, apps after
   infrastructure) and those two folders when they do not exist (created once, then the
   user's). A change is
   committed and pushed through the one Git transport with the given credentials.
2. The Flux and Flagger CRDs are installed and the ``flux-system`` objects applied.
3. The DAG file for the cluster folder is written to the dags folder (the DAG factory over a
   copy of ``<path>``), so Airflow reconciles it.

Every step says what it did; a second run with the same flags commits, applies and writes
nothing and says so. The GitRepository's ``secretRef`` is ``flux-system``: the Airflow
connection of that id holds the Git credentials for the DAG's tasks.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from airflow_flux_provider.credentials import ANONYMOUS, Credentials
from airflow_flux_provider.errors import FluxError

SYNC = "flux-system"
#: Seeded only where the folder itself is missing: an existing folder's files are built as they are.
FOLDER_SEEDS = frozenset({"infrastructure/kustomization.yaml", "apps/kustomization.yaml"})
_EMAIL = "flux@users.noreply.airflow-flux-provider"
_AUTHOR = {"GIT_AUTHOR_NAME": "Flux", "GIT_AUTHOR_EMAIL": _EMAIL,
           "GIT_COMMITTER_NAME": "Flux", "GIT_COMMITTER_EMAIL": _EMAIL}  # fmt: skip


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("bootstrap", help="set up a Git repository and a cluster (flux bootstrap)")
    parser.add_argument("--url", required=True, help="Git repository URL (https:// or ssh://)")
    parser.add_argument("--branch", default="main", help="branch (default: main)")
    parser.add_argument("--path", required=True, help="cluster folder in the repository, e.g. clusters/prod")
    parser.add_argument("--username", help="Git username (the password from --password or GIT_PASSWORD)")
    parser.add_argument("--password", default=os.environ.get("GIT_PASSWORD"), help=argparse.SUPPRESS)
    parser.add_argument("--interval", default="1m", help="how often the source is fetched (default: 1m)")
    parser.add_argument("--kubeconfig", help="kubeconfig of the target cluster (default: KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--dags-folder", type=Path, help="Airflow dags folder (default: $AIRFLOW_HOME/dags)")
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class Layout:
    """The files bootstrap keeps in the repository for one cluster folder."""

    url: str
    branch: str
    path: str
    interval: str
    secret: bool

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    def sync_objects(self) -> list[dict[str, Any]]:
        """The ``flux-system`` GitRepository and the Kustomization managing the cluster folder."""
        meta = {"name": SYNC, "namespace": SYNC}
        source: dict[str, Any] = {"interval": self.interval, "url": self.url, "ref": {"branch": self.branch}}
        if self.secret:
            source["secretRef"] = {"name": SYNC}
        sync = {"interval": "10m0s", "path": f"./{self.path}", "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": SYNC}}  # fmt: skip
        return [
            {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
             "metadata": meta, "spec": source},
            {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
             "metadata": meta, "spec": sync},
        ]  # fmt: skip

    def owned(self) -> dict[str, str]:
        """Files rewritten whenever a flag changes them."""
        config = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                  "resources": ["gotk-sync.yaml"]}  # fmt: skip
        return {
            f"{self.path}/{SYNC}/gotk-sync.yaml": yaml.safe_dump_all(self.sync_objects(), sort_keys=False),
            f"{self.path}/{SYNC}/kustomization.yaml": yaml.safe_dump(config, sort_keys=False),
        }

    def seeded(self) -> dict[str, str]:
        """Files created when missing, then left to the user."""

        def kustomization(name: str, extra: dict[str, Any]) -> str:
            spec = {"interval": "10m0s", "path": f"./{name}", "prune": True,
                    "sourceRef": {"kind": "GitRepository", "name": SYNC}, **extra}  # fmt: skip
            obj = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                   "metadata": {"name": name, "namespace": SYNC}, "spec": spec}  # fmt: skip
            return yaml.safe_dump(obj, sort_keys=False)

        empty = yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                "resources": []}, sort_keys=False)  # fmt: skip
        return {
            f"{self.path}/infrastructure.yaml": kustomization("infrastructure", {"wait": True}),
            f"{self.path}/apps.yaml": kustomization("apps", {"dependsOn": [{"name": "infrastructure"}]}),
            "infrastructure/kustomization.yaml": empty,
            "apps/kustomization.yaml": empty,
        }


def _layout(args: argparse.Namespace) -> Layout:
    from airflow_flux_provider.git.refs import check_branch

    path = PurePosixPath(args.path.strip("/"))
    if not path.parts or ".." in path.parts or path.is_absolute():
        raise FluxError(f"--path {args.path!r} must be a folder inside the repository, e.g. clusters/prod",
                        field="--path")  # fmt: skip
    try:
        check_branch(args.branch, "--branch")
    except ValueError as err:
        raise FluxError(str(err), field="--branch") from None
    return Layout(args.url, args.branch, str(path), args.interval, bool(args.username))


def sync_repository(layout: Layout, credentials: Credentials, work: Path) -> str | None:
    """Check out the branch into ``work``, add what the layout lacks; the pushed commit, or None."""
    from airflow_flux_provider.git.refs import RefSpec
    from airflow_flux_provider.git.remote import Blame, GitRemote

    blame = Blame(url="--url", credentials="--username")
    remote = GitRemote(layout.url, obj=f"GitRepository/{SYNC}/{SYNC}", credentials=credentials, blame=blame)
    with remote.connect() as git:
        git.run("init", "--quiet", "--end-of-options", str(work))
        exists = bool(git.ls_remote(f"refs/heads/{layout.branch}"))
        if exists:
            git.fetch(work / ".git", f"refs/heads/{layout.branch}")
            git.run("update-ref", "--end-of-options", f"refs/heads/{layout.branch}", "FETCH_HEAD", cwd=work)
        git.run("symbolic-ref", "--end-of-options", "HEAD", f"refs/heads/{layout.branch}", cwd=work)
        if exists:
            git.run("reset", "--quiet", "--hard", cwd=work)
        changed = []
        for relative, text in {**layout.seeded(), **layout.owned()}.items():
            target = work / relative
            if relative in layout.owned():
                if target.exists() and target.read_text() == text:
                    continue
            elif target.exists() or (relative in FOLDER_SEEDS and target.parent.exists()):
                continue  # the user's file, or a folder of theirs (Flux generates its kustomization.yaml)
            print(f"► {'updated' if target.exists() else 'created'} {relative}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            changed.append(relative)
        if not changed:
            print(f"✔ {layout.url} ({layout.branch}) already holds the layout; nothing committed")
            return None
        git.run("add", "--", *changed, cwd=work)
        message = f"Add Flux sync manifests for {layout.path}"
        git.run("commit", "--quiet", "--no-verify", "--file=-", cwd=work, stdin=message, env=_AUTHOR)
        git.push(work, [RefSpec("HEAD", f"refs/heads/{layout.branch}")])
        commit = git.run("rev-parse", "HEAD", cwd=work).strip()
    print(f"► pushed commit '{commit[:7]}' to branch '{layout.branch}'")
    return commit


def write_dag(layout: Layout, checkout: Path, dags_folder: Path) -> bool:
    """The DAG file over a copy of the cluster folder; whether anything was written."""
    dag_id = "flux_" + re.sub(r"[^A-Za-z0-9_]", "_", layout.name)
    copy = dags_folder / dag_id
    wanted = {p.relative_to(checkout / layout.path): p.read_text()
              for p in sorted((checkout / layout.path).rglob("*")) if p.is_file()}  # fmt: skip
    dag_file = dags_folder / f"{dag_id}.py"
    files = {dag_file: _DAG.format(path=layout.path, url=layout.url, folder=dag_id, dag_id=dag_id),
             **{copy / relative: text for relative, text in wanted.items()}}  # fmt: skip
    stale = [p for p in copy.rglob("*") if p.is_file() and p.relative_to(copy) not in wanted]
    written = False
    for target, text in files.items():
        if target.exists() and target.read_text() == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(f"► wrote {target}")
        written = True
    for path in stale:
        path.unlink()
        print(f"► removed {path}")
        written = True
    if not written:
        print(f"✔ DAG file {dag_file} is up to date")
    return written


_DAG = '''"""Written by 'python -m airflow_flux_provider bootstrap' for {path} of {url}.

Run bootstrap again to update it and the copy of the cluster folder beside it.
"""

from pathlib import Path

from airflow_flux_provider.dag_factory import flux_dag

dag = flux_dag(Path(__file__).with_name({folder!r}), dag_id={dag_id!r}, catchup=False)
'''


def run(args: argparse.Namespace) -> int:
    from airflow_flux_provider.kube import Cluster
    from airflow_flux_provider.kube.apply import Applier
    from airflow_flux_provider.kube.objects import install_crds

    layout = _layout(args)
    credentials = Credentials(username=args.username, password=args.password) if args.username else ANONYMOUS
    dags_folder = args.dags_folder or Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow") / "dags"
    cluster = Cluster.from_kubeconfig(args.kubeconfig, context=args.context)
    with tempfile.TemporaryDirectory(prefix="flux-bootstrap-") as tmp:
        checkout = Path(tmp) / "repository"
        commit = sync_repository(layout, credentials, checkout)
        crds = install_crds(cluster)
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYNC}}
        applied = Applier(cluster).apply_all([namespace, *layout.sync_objects()])
        for change in [*crds.changes, *applied.changes]:
            if change.action.value not in ("unchanged", "skipped"):
                print(f"► {change}")
        if not crds.has_changes and not applied.has_changes:
            print(f"✔ {len(crds.changes)} CRDs and the {SYNC} objects are up to date")
        written = write_dag(layout, checkout, dags_folder)
    if commit is None and not (crds.has_changes or applied.has_changes or written):
        print("✔ bootstrap: nothing to do, everything is in place")
    else:
        print(f"✔ bootstrap finished; create the Airflow connection '{SYNC}' with the Git credentials"
              if layout.secret else "✔ bootstrap finished")  # fmt: skip
    return 0
