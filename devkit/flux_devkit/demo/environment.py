"""The embedded defaults the demo runs against, started and wired together in one call.

Services: the sandbox Kubernetes API server running the Pods of the local registry's
images as processes (``--run-workloads``), a Git server holding the GitOps repository in
the lecture's layout, an OCI registry with the dev kit's training and serving images under
several tags, MLflow and Prometheus. Airflow gets its own home with a migrated database and
the connections the Flux objects' ``secretRef`` names point at, and runs as it does in production: an
api-server (the UI), a scheduler, a dag-processor and a triggerer, reading the repository's
example DAGs and a DAG folder of the demo's own. Runs are created by the demo's triggers only
until the story ends (see :mod:`flux_devkit.demo.airflow`).

With ``celery_workers`` the scheduler hands the tasks to that many Celery workers over Redis
instead of LocalExecutor, with the metadata database on a local PostgreSQL server as in
production; each worker stands for a machine of its own, so what tasks hand each other goes
through the ``s3://`` artifact store on the local S3 server (issue 21).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.kube.objects import install_crds
from flux_devkit.demo.airflow import local_executor_parallelism, story_settings
from flux_devkit.images import ImageSpec, push_image
from flux_devkit.sandbox import Sandbox, WorkloadSettings
from flux_devkit.services.airflow_db import migrate_airflow_db
from flux_devkit.services.airflow_scheduler import AirflowScheduler, celery_settings, start_airflow_scheduler
from flux_devkit.services.process import ServiceError
from flux_devkit.services.redis import RedisServer, start_redis
from flux_devkit.services.registry import OciRegistry
from flux_devkit.services.stack import DevStack

GITOPS_TEMPLATE = Path(__file__).parent / "gitops"
#: The demo-only age identity: the repository keeps apps/ml-training/base/secrets.env
#: SOPS-encrypted for it, and the ml-training Kustomization decrypts it at build time.
SOPS_AGE_KEY = Path(__file__).parent / "sops" / "demo.agekey"
GITOPS_REPO = "ml-gitops"
TRAINING_IMAGE = "company/ml-training"
TRAINING_TAGS = ("v1.0.0", "1.0.1", "1.1.0", "2.0.0", "1.2.0-rc.1")
LOADTESTER_IMAGE = "company/flagger-loadtester"
SERVING_IMAGE = "company/ml-serving"
SERVING_TAGS = ("1.0.0", "1.0.1")
#: A serving release with a bug: a share of its predictions fail and every one is slow.
FAULTY_SERVING_TAG = "1.1.0"
FAULTY_SERVING_ENV = {"FAIL_PERCENT": "20", "DELAY_MS": "150"}
#: What Airflow reaches directly, not through the mesh: every service of the demo listens here.
LOCAL_HOSTS = "localhost,127.0.0.1,::1"
#: The ``s3://`` bucket the Celery workers share their artifacts through.
ARTIFACTS_BUCKET = "flux-artifacts"
DAGS_FOLDER = Path(__file__).resolve().parents[3] / "dags"  # the repository's example DAGs


def gitops_files(registry_host: str) -> dict[str, str]:
    """The repository's files, with the local registry written in (the template says ``${REGISTRY_HOST}``)."""
    files = {}
    for path in sorted(GITOPS_TEMPLATE.rglob("*")):
        if path.is_file():
            text = path.read_text(encoding="utf-8").replace("${REGISTRY_HOST}", registry_host)
            files[path.relative_to(GITOPS_TEMPLATE).as_posix()] = text
    return files


@dataclass
class DemoEnvironment:
    workdir: Path
    stack: DevStack
    sandbox: Sandbox
    gitops_url: str
    #: The sandbox mesh's gateway (``http://127.0.0.1:port``): how Airflow's own HTTP clients
    #: (webhooks) reach the cluster's Services by name, as they would from inside a cluster.
    mesh_gateway: str = ""
    scheduler: AirflowScheduler | None = field(default=None, repr=False)
    #: The Celery broker when the demo runs on Celery workers.
    redis: RedisServer | None = field(default=None, repr=False)
    #: Seals renders that hold decrypted Secrets (Airflow's [core] fernet_key), one per demo.
    fernet_key: str = field(
        default_factory=lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(), repr=False
    )

    @property
    def airflow_home(self) -> Path:
        return self.workdir / "airflow"

    @property
    def own_dags(self) -> Path:
        """A DAG bundle of the demo's own beside the repository's examples: DAG files written here
        run on the same Airflow (the tests' fleet DAG on the Celery workers)."""
        return self.workdir / "dags"

    @property
    def registry_host(self) -> str:
        return str(self.stack["registry"].host)

    @property
    def tracking_uri(self) -> str:
        return str(self.stack["mlflow"].tracking_uri)

    def airflow_settings(self) -> dict[str, str]:
        """What every Airflow process of the demo gets on top of the caller's environment."""
        return {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__FLUX__ARTIFACTS_PATH": str(self.workdir / "artifacts"),
            "AIRFLOW_VAR_GITOPS_URL": self.gitops_url,
            "AIRFLOW_VAR_REGISTRY_HOST": self.registry_host,
            # where the training Job and the serving Pods reach MLflow (postBuild variable)
            "AIRFLOW_VAR_MLFLOW_TRACKING_URI": self.tracking_uri,
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            **{name: self.mesh_gateway for name in ("HTTP_PROXY", "http_proxy")},
            **{name: LOCAL_HOSTS for name in ("NO_PROXY", "no_proxy")},
        }

    def connections(self) -> dict[str, dict[str, Any]]:
        """Connections named as the Flux objects' ``secretRef`` names them."""
        git = self.stack["git"].info()
        registry = self.stack["registry"].info()
        return {
            "kubernetes_default": {
                "conn_type": "kubernetes",
                "extra": json.dumps({"kube_config_path": str(self.sandbox.kubeconfig)}),
            },
            "git-credentials": {
                "conn_type": "flux_git",
                "host": self.gitops_url,
                "login": git["username"],
                "password": git["password"],
            },
            "ghcr-credentials": {
                "conn_type": "flux_registry",
                "host": registry["host"],
                "login": registry["username"],
                "password": registry["password"],
                "extra": json.dumps({"insecure": True}),
            },
            "flux_mlflow_default": {"conn_type": "flux_mlflow", "host": self.tracking_uri},
            # spec.decryption.secretRef of ml-training: the age identity in the password
            "sops-age": {"conn_type": "generic", "password": SOPS_AGE_KEY.read_text(encoding="utf-8")},
        }

    def run_dag(self, dag_id: str, conf: dict[str, Any], *, expect: str = "success") -> str:
        """Trigger ``dag_id`` with ``conf`` as the UI's "Trigger DAG" would; its run id, or raise unless
        the run ends in the ``expect``-ed state (a rolled-back canary fails its run, as it should)."""
        if self.scheduler is None:
            raise ServiceError("Airflow is not running; start the environment first", obj="demo")
        self.scheduler.wait_for_dag(dag_id)
        run_id = self.scheduler.trigger(dag_id, conf)
        state = self.scheduler.wait_for_run(dag_id, run_id, timeout=1200)
        if state != expect:
            states = self.scheduler.task_states(dag_id, run_id)
            failed = sorted(task for task, state in states.items() if state not in ("success", "skipped"))
            logs = self.airflow_home / "logs" / f"dag_id={dag_id}"
            raise ServiceError(
                f"run {run_id} ended {state}, expected {expect}; tasks not successful: "
                f"{', '.join(failed) or 'none'} (logs under {logs})",
                obj="demo",
            )
        return run_id

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.redis is not None:
            self.redis.stop()
        self.sandbox.stop()
        self.stack.stop()


def push_demo_images(registry: OciRegistry) -> None:
    """The training, serving and load-test images, one build per tag (its version in a label), as CI would."""

    def build(program: str, tag: str, env: dict[str, str] | None = None) -> ImageSpec:
        labels = {"org.opencontainers.image.version": tag}
        return ImageSpec.program(program, labels=labels, env=env or {}, exposed_ports=(8080,))

    for tag in TRAINING_TAGS:  # (the image has no git for MLflow to record the code version with)
        push_image(registry, TRAINING_IMAGE, [tag], build("train", tag, {"GIT_PYTHON_REFRESH": "quiet"}))
    for tag in SERVING_TAGS:
        push_image(registry, SERVING_IMAGE, [tag], build("serve", tag))
    push_image(registry, LOADTESTER_IMAGE, ["1.0.0"], build("loadtester", "1.0.0"))
    push_image(
        registry, SERVING_IMAGE, [FAULTY_SERVING_TAG], build("serve", FAULTY_SERVING_TAG, FAULTY_SERVING_ENV)
    )


def _node_pull_config(workdir: Path, registry: OciRegistry) -> Path:
    """The sandbox node's Docker config.json: its pull credentials for the demo registry."""
    info = registry.info()
    auth = base64.b64encode(f"{info['username']}:{info['password']}".encode()).decode()
    path = workdir / "node-registry-config.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps({"auths": {info["host"]: {"auth": auth}}}))
    return path


def start(workdir: Path, migrated_db: Path | None = None, *, celery_workers: int = 0) -> DemoEnvironment:
    """Start every service, seed the GitOps repository and the registry, prepare Airflow (on
    LocalExecutor, or on ``celery_workers`` Celery workers).

    ``migrated_db``: an ``airflow.db`` migrated already, copied instead of running ``airflow db
    migrate`` (the test suite migrates one per run). On Celery the metadata database is a
    PostgreSQL server's (:func:`celery_settings`), migrated here in seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    services = ["git", "registry", "mlflow", "prometheus", *(["s3", "postgres"] if celery_workers else [])]
    stack = DevStack(workdir / "services", services)
    try:
        registry = stack["registry"]
        workloads = WorkloadSettings((registry.host,), registry_config=_node_pull_config(workdir, registry))
        sandbox = Sandbox(workdir / "sandbox", workloads=workloads).start(child_process=True)
    except BaseException:
        stack.stop()
        raise
    env = DemoEnvironment(workdir, stack, sandbox, gitops_url="")
    try:
        install_crds(Cluster.from_kubeconfig(str(sandbox.kubeconfig)))  # the Flux and Flagger CRDs
        env.mesh_gateway = sandbox.network()["gateway"]
        # the canary's metrics: Prometheus scrapes what the mesh carried (the load tester's traffic)
        stack["prometheus"].scrape("sandbox-mesh", env.mesh_gateway.removeprefix("http://"))
        env.gitops_url = stack["git"].create_repo(GITOPS_REPO, gitops_files(registry.host))
        push_demo_images(registry)
        settings = {**env.airflow_settings(), **story_settings(celery_workers)}
        if celery_workers:
            env.redis = start_redis(workdir / "services" / "redis")
            database = stack["postgres"].database_url
            settings.update(celery_settings(env.redis.url(0), env.redis.url(1), database))
            settings.update(stack["s3"].artifact_store_env("demo", ARTIFACTS_BUCKET))
            migrate_airflow_db(env.airflow_home, settings)
        elif migrated_db is None:
            migrate_airflow_db(env.airflow_home)
        else:
            env.airflow_home.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(migrated_db, env.airflow_home / "airflow.db")
        env.own_dags.mkdir()
        env.scheduler = start_airflow_scheduler(
            env.airflow_home,
            workdir / "logs" / "airflow",
            bundle="demo",
            dags_folder=DAGS_FOLDER,
            more_bundles={"own": env.own_dags},
            env=settings,
        )
        for conn_id, fields in env.connections().items():  # as the UI's "Add Connection" stores them
            created = env.scheduler.api.api("POST", "/connections", json={"connection_id": conn_id, **fields})
            created.raise_for_status()
        for number in range(1, celery_workers + 1):
            env.scheduler.start_worker(
                f"worker-{number}",
                workdir / "workers" / str(number),
                concurrency=local_executor_parallelism(),
            )
    except BaseException:
        env.stop()
        raise
    return env
