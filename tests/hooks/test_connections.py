"""flux_credentials: an explicit connection id, else the one a Flux ``secretRef`` names, else none.

Connections come from ``AIRFLOW_CONN_*`` variables, as a deployment's secrets backend would
serve them; a missing one is reported with the object, where the name came from and the
connection type to create, from every task that reads one.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from airflow_flux_provider.credentials import ANONYMOUS
from airflow_flux_provider.hooks.connections import (
    BucketCredentialsHook,
    ConnectionSetupError,
    GitCredentialsHook,
    NotificationCredentialsHook,
    flux_credentials,
)
from airflow_flux_provider.operators.images import ImageRepositoryScanOperator
from airflow_flux_provider.operators.sources import (
    BucketOperator,
    GitRepositoryOperator,
    HelmRepositoryOperator,
    OCIRepositoryOperator,
)
from airflow_flux_provider.sensors.images import ImagePolicySensor
from airflow_flux_provider.sensors.sources import SourceRevisionSensor
from airflow_flux_provider.triggers.health import HealthCheckTrigger
from airflow_flux_provider.triggers.images import ImagePolicyTrigger
from airflow_flux_provider.triggers.sources import SourceRevisionTrigger
from tests.services.connections import AirflowConnections

SECRET = {"secretRef": {"name": "team-secret"}}
# Every task that reads a secretRef, with a spec naming a connection that does not exist.
READERS: list[tuple[str, Any, str]] = [
    (
        "GitRepository",
        lambda: GitRepositoryOperator(
            task_id="git", name="app", spec={"url": "https://git.invalid/a", "interval": "1m", **SECRET}
        ),
        "flux_git",
    ),
    (
        "Bucket",
        lambda: BucketOperator(
            task_id="bucket",
            name="app",
            spec={"bucketName": "b", "endpoint": "s3.invalid", "interval": "1m", **SECRET},
        ),
        "flux_bucket",
    ),
    (
        "OCIRepository",
        lambda: OCIRepositoryOperator(
            task_id="oci",
            name="app",
            spec={"url": "oci://registry.invalid/a", "interval": "1m", "ref": {"tag": "1"}, **SECRET},
        ),
        "flux_registry",
    ),
    (
        "HelmRepository",
        lambda: HelmRepositoryOperator(
            task_id="helm", name="app", spec={"url": "https://charts.invalid", "interval": "1m", **SECRET}
        ),
        "flux_helm",
    ),
    (
        "ImageRepository",
        lambda: ImageRepositoryScanOperator(
            task_id="scan", name="app", spec={"image": "registry.invalid/a", "interval": "1m", **SECRET}
        ),
        "flux_registry",
    ),
]
SOURCE_MANIFEST = {
    "apiVersion": "source.toolkit.fluxcd.io/v1",
    "kind": "GitRepository",
    "metadata": {"name": "app", "namespace": "flux-system"},
    "spec": {"url": "https://git.invalid/a", "interval": "1m", **SECRET},
}
IMAGE_REPOSITORY = {
    "apiVersion": "image.toolkit.fluxcd.io/v1beta2",
    "kind": "ImageRepository",
    "metadata": {"name": "app", "namespace": "flux-system"},
    "spec": {"image": "registry.invalid/a", "interval": "1m", **SECRET},
}
IMAGE_POLICY = {
    "apiVersion": "image.toolkit.fluxcd.io/v1beta2",
    "kind": "ImagePolicy",
    "metadata": {"name": "app", "namespace": "flux-system"},
    "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": "1.x"}}},
}


@pytest.mark.parametrize(("kind", "build", "conn_type"), READERS, ids=[r[0] for r in READERS])
def test_a_missing_secret_ref_connection_names_object_field_and_type(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, kind: str, build: Any, conn_type: str
) -> None:
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(tmp_path))
    with pytest.raises(ConnectionSetupError) as raised:
        build().execute({})
    message = str(raised.value)
    assert message.startswith(f"{kind}/flux-system/app field spec.secretRef: ")
    assert "no Airflow connection 'team-secret'" in message
    assert f"type {conn_type} (" in message


def test_sensors_report_a_missing_secret_ref_connection_the_same_way(tmp_path: Any) -> None:
    source = SourceRevisionSensor(task_id="watch", manifest=SOURCE_MANIFEST, artifacts_url=str(tmp_path))
    with pytest.raises(
        ConnectionSetupError, match=r"GitRepository/flux-system/app field spec.secretRef.*flux_git"
    ):
        source.check()
    images = ImagePolicySensor(task_id="tags", repository=IMAGE_REPOSITORY, policy=IMAGE_POLICY)
    with pytest.raises(
        ConnectionSetupError, match=r"ImageRepository/flux-system/app field spec.secretRef.*flux_registry"
    ):
        images.check()


def test_a_missing_explicit_connection_asks_to_fix_the_id() -> None:
    with pytest.raises(ConnectionSetupError) as raised:
        flux_credentials(
            GitCredentialsHook, "GitRepository/a/b", conn_id="typo-git", secret_ref="team-secret"
        )
    assert "the task names the Airflow connection 'typo-git', which does not exist" in str(raised.value)
    assert "fix the connection id" in str(raised.value) and "team-secret" not in str(raised.value)


def test_the_explicit_connection_wins_and_none_means_anonymous(
    airflow_connections: AirflowConnections,
) -> None:
    conn = {"conn_type": "flux_git", "login": "bot", "password": "pw-1", "extra": {"token": "tk-1", "x": 1}}
    airflow_connections.add("explicit_git", conn)
    found = flux_credentials(GitCredentialsHook, "o", conn_id="explicit_git", secret_ref="team-secret")
    assert (found.username, found.password, found.token, found.extra) == ("bot", "pw-1", "tk-1", {"x": "1"})
    assert flux_credentials(GitCredentialsHook, "o") is ANONYMOUS


def test_the_connection_host_is_the_secret_key_flux_keeps_it_under(
    airflow_connections: AirflowConnections,
) -> None:
    airflow_connections.add("store", {"conn_type": "flux_bucket", "host": "s3.local:9000"})
    notification = {"conn_type": "flux_notification", "host": "https://a.invalid", "extra": {"address": "x"}}
    airflow_connections.add("hook", notification)
    assert flux_credentials(BucketCredentialsHook, "o", conn_id="store").extra == {
        "endpoint": "s3.local:9000"
    }
    assert NotificationCredentialsHook.lookup("hook", obj="o", field="f").extra == {"address": "x"}


TRIGGERS: list[tuple[str, Any, str]] = [
    (
        "source",
        lambda: SourceRevisionTrigger(
            manifest=SOURCE_MANIFEST, last_revision=None, conn_id=None, poll_interval=1
        ),
        r"GitRepository/flux-system/app field spec.secretRef: no Airflow connection 'team-secret'",
    ),
    (
        "image",
        lambda: ImagePolicyTrigger(
            repository=IMAGE_REPOSITORY,
            policy=IMAGE_POLICY,
            last_tag=None,
            registry_conn_id=None,
            poll_interval=1,
        ),
        r"ImageRepository/flux-system/app field spec.secretRef: no Airflow connection 'team-secret'",
    ),
    (
        "health",
        lambda: HealthCheckTrigger(
            objects=[["v1", "ConfigMap", "a", "b"]],
            kubernetes_conn_id="kubernetes_default",
            impersonate=None,
            timeout=5,
            poll_interval=1,
            started_at=time.time(),
            state={"started": time.time()},
        ),
        r"Kubernetes connection 'kubernetes_default': there is no Airflow connection 'kubernetes_default'",
    ),
]


@pytest.mark.parametrize(("name", "build", "message"), TRIGGERS, ids=[t[0] for t in TRIGGERS])
def test_triggers_fire_an_error_event_naming_the_missing_connection(
    monkeypatch: pytest.MonkeyPatch, name: str, build: Any, message: str
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", raising=False)

    async def first_event() -> dict[str, Any]:
        return dict((await build().run().__anext__()).payload)

    event = asyncio.run(asyncio.wait_for(first_event(), 30))
    assert event["status"] == "error"
    assert re.search(message, event["message"]), event["message"]


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "a b", "x" * 251, "secret\nAIRFLOW_CONN_X=y", "ü" * 10_000]
)
def test_a_secret_ref_that_cannot_name_a_connection_is_refused_before_any_lookup(name: str) -> None:
    with pytest.raises(ConnectionSetupError, match=r"cannot be an Airflow connection id") as raised:
        flux_credentials(GitCredentialsHook, "GitRepository/a/b", secret_ref=name)
    assert len(str(raised.value)) < 300
