"""The image operators, sensor and trigger on the real registry and Git server.

Operators run through ``execute`` with connections from ``AIRFLOW_CONN_*`` variables; the
sensor's deferral is followed by running its trigger to its first event.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_flux_provider.assets import flux_asset
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.operators.images import (
    ImagePolicyOperator,
    ImageRepositoryScanOperator,
    ImageUpdateAutomationOperator,
)
from airflow_flux_provider.sensors.images import ImagePolicySensor
from airflow_flux_provider.triggers.images import ImagePolicyTrigger
from flux_devkit.services.git_http import GitServer
from flux_devkit.services.registry import OciRegistry
from tests.services.connections import AirflowConnections

MARKED = 'image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}\n'


@pytest.fixture
def connections(
    monkeypatch: pytest.MonkeyPatch,
    airflow_connections: AirflowConnections,
    oci_registry: OciRegistry,
    git_server: GitServer,
    tmp_path: Path,
) -> None:
    airflow_connections.registry("registry_creds", oci_registry)
    airflow_connections.git("git_creds", git_server)
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(tmp_path / "artifacts"))


def _repository(oci_registry: OciRegistry, repo: str) -> dict[str, Any]:
    return {
        "apiVersion": "image.toolkit.fluxcd.io/v1beta2",
        "kind": "ImageRepository",
        "metadata": {"name": "app", "namespace": "flux-system"},
        "spec": {
            "image": f"{oci_registry.host}/{repo}",
            "interval": "1m",
            "insecure": True,
            "secretRef": {"name": "registry_creds"},
        },
    }


POLICY = {
    "apiVersion": "image.toolkit.fluxcd.io/v1beta2",
    "kind": "ImagePolicy",
    "metadata": {"name": "app", "namespace": "flux-system"},
    "spec": {
        "imageRepositoryRef": {"name": "app"},
        "policy": {"semver": {"range": "1.x"}},
        "digestReflectionPolicy": "IfNotPresent",
    },
}


def test_scan_policy_update_operators(
    connections: None, oci_registry: OciRegistry, git_server: GitServer, tmp_path: Path
) -> None:
    for tag in ("1.0.0", "1.4.0", "2.0.0"):
        oci_registry.push_image("airflow-ops/app", tag)
    scanned = ImageRepositoryScanOperator(
        task_id="scan", manifest=_repository(oci_registry, "airflow-ops/app")
    ).execute({})
    # the tag list is in the artifact store, where a policy task on another worker reads it
    assert scanned["count"] == 3 and "path" not in scanned
    assert scanned["url"].startswith(f"file://{tmp_path / 'artifacts' / 'sha256'}/")
    chosen = ImagePolicyOperator(task_id="policy", manifest=POLICY, tags=scanned).execute({})
    assert (chosen["policy"], chosen["tag"]) == ("flux-system:app", "1.4.0")
    assert chosen["digest"].startswith("sha256:")

    url = git_server.create_repo("airflow-ops", {"deploy/app.yaml": MARKED})
    update = ImageUpdateAutomationOperator(
        task_id="update",
        name="app",
        spec={
            "sourceRef": {"kind": "GitRepository", "name": "ops"},
            "interval": "5m",
            "git": {
                "commit": {
                    "author": {"email": "bot@example.com", "name": "bot"},
                    "messageTemplate": "{{ range .Changed.Changes }}{{ .NewValue }}{{ end }}",
                }
            },
            "update": {"path": "./deploy", "strategy": "Setters"},
        },
        policies=[chosen],
        url=url,
        git_conn_id="git_creds",
    )
    first = update.execute({})
    ref = f"{oci_registry.host}/airflow-ops/app:1.4.0@{chosen['digest']}"
    assert first["files"] == ["app.yaml"] and first["message"] == ref
    assert first["revision"] and update.execute({})["revision"] is None


def test_policy_operator_refuses_bad_tags(connections: None) -> None:
    with pytest.raises(FluxError, match="tags must be the XCom"):
        ImagePolicyOperator(task_id="p", manifest=POLICY, tags="1.0.0").execute({})


def test_sensor_defers_and_trigger_fires_on_a_new_tag(connections: None, oci_registry: OciRegistry) -> None:
    oci_registry.push_image("airflow-sensor/app", "1.0.0")
    sensor = ImagePolicySensor(
        task_id="watch",
        repository=_repository(oci_registry, "airflow-sensor/app"),
        policy=POLICY,
        last_tag="1.0.0",
        poke_interval=0.2,
        timeout=60,
    )
    assert sensor.outlets == [flux_asset("ImagePolicy", "flux-system", POLICY["metadata"]["name"])]
    assert sensor.poke({}).is_done is False
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, ImagePolicyTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_flux_provider.triggers.images.ImagePolicyTrigger"
    assert kwargs["registry_conn_id"] is None  # the trigger reads the secretRef connection itself

    async def first_event() -> dict[str, Any]:
        runner = ImagePolicyTrigger(**kwargs).run()
        task = asyncio.ensure_future(runner.__anext__())
        await asyncio.sleep(0.5)  # at least one scan finds nothing new
        assert not task.done()
        oci_registry.push_image("airflow-sensor/app", "1.1.0")
        return dict((await asyncio.wait_for(task, 30)).payload)

    event = asyncio.run(first_event())
    assert (event["status"], event["tag"], event["previous"]) == ("changed", "1.1.0", "1.0.0")
    assert sensor.execute_complete({}, event)["ref"].endswith("/airflow-sensor/app:1.1.0")
    assert (sensor.poke({}).xcom_value or {}).get("tag") == "1.1.0"


def test_trigger_reports_registry_errors(connections: None, oci_registry: OciRegistry) -> None:
    repository = _repository(oci_registry, "airflow-sensor/missing")
    trigger = ImagePolicyTrigger(
        repository=repository,
        policy=POLICY,
        last_tag=None,
        registry_conn_id="registry_creds",
        poll_interval=0.1,
    )

    async def first_event() -> dict[str, Any]:
        return dict((await trigger.run().__anext__()).payload)

    event = asyncio.run(first_event())
    assert event["status"] == "error" and "not found (404)" in event["message"]
    with pytest.raises(FluxError, match="not found"):
        ImagePolicySensor(task_id="w", repository=repository, policy=POLICY).execute_complete({}, event)
