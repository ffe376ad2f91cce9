"""A real ``airflow api-server`` with the receiver plugin, serving Receivers from a folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_flux_provider.receivers import DAGS_ANNOTATION, webhook_path
from flux_devkit.services.airflow_api import (
    AirflowApiServer,
    bundle_env,
    serialize_dags,
    start_airflow_api_server,
)

DAGS = Path(__file__).parent / "dags"
BUNDLE = "flux-receiver-tests"
MAX_BODY = 64 * 1024
TOKENS = {
    "webhook-token": "generic-token-1",
    "github-token": "github-token-2",
    "hmac-token": "hmac-token-3",
    "gitlab-token": "gitlab-token-4",
    "harbor-token": "harbor-token-5",
    "dockerhub-token": "dockerhub-token-6",
    "bitbucket-token": "bitbucket-token-7",
    "missing-dag-token": "missing-dag-token-8",
    "flood-token": "flood-token-9",
}
RATE_LIMIT = 30  # per receiver and minute; only the flood test comes near it


def _receiver(name: str, receiver_type: str, secret: str, *, events: str = "[]", dags: str = "") -> str:
    annotations = f"\n  annotations:\n    {DAGS_ANNOTATION}: {dags}" if dags else ""
    return f"""
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata:
  name: {name}
  namespace: flux-system{annotations}
spec:
  type: {receiver_type}
  events: {events}
  secretRef: {{name: {secret}}}
  resources:
    - apiVersion: source.toolkit.fluxcd.io/v1
      kind: GitRepository
      name: ml-gitops
"""


RECEIVERS = "---".join(
    [
        _receiver("model-update-webhook", "generic", "webhook-token", events='["ping", "push"]'),
        _receiver("github-push", "github", "github-token", events='["push"]', dags="flux_receiver_target"),
        _receiver("signed-hook", "generic-hmac", "hmac-token", dags="flux_receiver_target"),
        _receiver("no-token", "generic", "missing-connection", dags="flux_receiver_target"),
        _receiver(
            "gitlab-push", "gitlab", "gitlab-token", events='["Push Hook"]', dags="flux_receiver_target"
        ),
        _receiver("harbor-push", "harbor", "harbor-token", dags="flux_receiver_target"),
        _receiver("missing-dag", "gitlab", "missing-dag-token", dags="no_such_dag"),
        _receiver("dockerhub-push", "dockerhub", "dockerhub-token", dags="flux_receiver_target"),
        _receiver("flood", "generic", "flood-token"),
        _receiver(
            "bitbucket-push",
            "bitbucket",
            "bitbucket-token",
            events='["repo:push"]',
            dags="flux_receiver_target",
        ),
    ]
)


@dataclass(frozen=True)
class ReceiverServer:
    api: AirflowApiServer

    def hook_url(self, name: str, secret: str) -> str:
        return f"{self.api.url}/flux{webhook_path(TOKENS[secret], name, 'flux-system')}"

    @property
    def log_path(self) -> Path:
        return self.api.log_path


def _connection(token: str) -> str:
    return json.dumps({"conn_type": "flux_notification", "password": token})


@pytest.fixture(scope="session")
def receiver_server(airflow_home: Path, services_dir: Path) -> Iterator[ReceiverServer]:
    workdir = services_dir / "airflow-api"
    receivers = workdir / "receivers"
    receivers.mkdir(parents=True)
    (receivers / "receivers.yaml").write_text(RECEIVERS)
    serialize_dags(airflow_home, BUNDLE, DAGS)
    env = {
        **bundle_env(BUNDLE, DAGS),
        "AIRFLOW__FLUX__RECEIVERS_PATH": str(receivers),
        "AIRFLOW__FLUX__RECEIVER_MAX_BODY_BYTES": str(MAX_BODY),
        "AIRFLOW__FLUX__RECEIVER_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
        # Airflow looks a connection id up upper-cased with its hyphens kept
        **{f"AIRFLOW_CONN_{conn_id.upper()}": _connection(token) for conn_id, token in TOKENS.items()},
    }
    server = start_airflow_api_server(airflow_home, workdir, env=env)
    yield ReceiverServer(server)
    server.stop()
