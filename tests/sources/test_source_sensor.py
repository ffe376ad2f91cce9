"""SourceRevisionSensor and its trigger on the real git server: fire on a moved ref, never before."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_flux_provider.assets import flux_asset
from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.operators.sources import GitRepositoryOperator
from airflow_flux_provider.sensors.sources import SourceRevisionSensor
from airflow_flux_provider.triggers.sources import SourceRevisionTrigger, revision_check
from flux_devkit.services.git_http import GitServer


def _manifest(url: str, name: str, secret: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"url": url, "interval": "1m", "ref": {"branch": "main"}}
    if secret:
        spec["secretRef"] = {"name": secret}
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": spec,
    }


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, git_server: GitServer, tmp_path: Path) -> None:
    conn = {"conn_type": "flux_git", "login": git_server.username, "password": git_server.password}
    monkeypatch.setenv("AIRFLOW_CONN_SENSOR_GIT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(tmp_path / "artifacts"))


async def _first_event(trigger: SourceRevisionTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("trigger ended without an event")


def test_revision_check_only_reports_a_different_revision(git_server: GitServer) -> None:
    git_server.create_repo("sensor-check", {"a": "1"})
    manifest = _manifest(git_server.repo_url("sensor-check"), "check")
    creds = Credentials(username=git_server.username, password=git_server.password)
    event = revision_check(manifest, creds, None)
    assert event is not None and event["status"] == "changed"
    assert event["source"] == "GitRepository/flux-system/check"
    assert revision_check(manifest, creds, event["revision"]) is None


def test_trigger_waits_for_a_new_commit(git_server: GitServer) -> None:
    git_server.create_repo("sensor-wait", {"a": "1"}, public=True)
    manifest = _manifest(git_server.repo_url("sensor-wait"), "wait")
    current = revision_check(manifest, Credentials(), None)
    assert current is not None
    trigger = SourceRevisionTrigger(
        manifest=manifest, last_revision=current["revision"], conn_id=None, poll_interval=0.05
    )
    classpath, kwargs = trigger.serialize()
    assert (
        classpath.endswith("SourceRevisionTrigger") and SourceRevisionTrigger(**kwargs).manifest == manifest
    )

    async def scenario() -> tuple[dict[str, Any], str]:
        waiting = asyncio.create_task(_first_event(trigger))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the ref has not moved: no event
        sha = await asyncio.to_thread(git_server.commit, "sensor-wait", {"a": "2"})
        return await asyncio.wait_for(waiting, 60), sha

    event, sha = asyncio.run(scenario())
    assert event["revision"] == f"main@sha1:{sha}" and event["previous"] == current["revision"]


def test_trigger_reports_errors_as_events(git_server: GitServer) -> None:
    bad = SourceRevisionTrigger(
        manifest=_manifest("http://127.0.0.1:9/none.git", "gone"),
        last_revision=None,
        conn_id=None,
        poll_interval=1,
    )
    event = asyncio.run(_first_event(bad))
    assert event["status"] == "error" and "cannot reach" in event["message"]
    helm = {**_manifest("http://x", "h"), "kind": "HelmChart"}
    event = asyncio.run(
        _first_event(SourceRevisionTrigger(manifest=helm, last_revision=None, conn_id=None, poll_interval=1))
    )
    assert event["status"] == "error"


def test_sensor_defers_from_the_stored_revision_and_records_the_asset(
    env: None, git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("sensor-op", {"a": "1"})
    manifest = _manifest(git_server.repo_url("sensor-op"), "op", secret="sensor_git")
    fetched = GitRepositoryOperator(
        task_id="fetch", manifest=manifest, cache_dir=str(tmp_path / "c")
    ).execute({})
    sensor = SourceRevisionSensor(task_id="watch", manifest=manifest, poke_interval=0.05)
    assert sensor.outlets == [flux_asset("GitRepository", "flux-system", "op")]
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, SourceRevisionTrigger)
    # no explicit id: the trigger reads the manifest's secretRef connection itself
    assert trigger.last_revision == fetched["revision"] and trigger.conn_id is None

    assert not sensor.poke({}).is_done  # nothing new since the fetch
    sha = git_server.commit("sensor-op", {"a": "2"})
    events = OutletEventAccessors()
    poked = sensor.poke({"outlet_events": events})
    assert poked.is_done and poked.xcom_value == {
        "status": "changed",
        "source": "GitRepository/flux-system/op",
        "revision": f"main@sha1:{sha}",
        "previous": fetched["revision"],
    }
    assert events[sensor.outlets[0]].extra == {
        "revision": f"main@sha1:{sha}",
        "previous": fetched["revision"],
    }
    # A change already there when the task starts is returned without deferring.
    assert sensor.execute({})["revision"] == f"main@sha1:{sha}"

    done = sensor.execute_complete({}, {"status": "changed", "revision": "r", "previous": None})
    assert done["revision"] == "r"
    with pytest.raises(FluxError, match="cannot reach"):
        sensor.execute_complete({}, {"status": "error", "message": "cannot reach it"})
