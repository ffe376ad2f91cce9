"""GitRepositoryOperator: connection from secretRef, XCom, and an Asset event only on a new revision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_flux_provider.assets import flux_asset
from airflow_flux_provider.operators.sources import GitRepositoryOperator
from airflow_flux_provider.sources.artifacts import Artifact, ArtifactStore
from airflow_flux_provider.sources.git import GitAuthError
from flux_devkit.services.git_http import GitServer


@pytest.fixture
def git_conn(monkeypatch: pytest.MonkeyPatch, git_server: GitServer, tmp_path: Path) -> None:
    conn = {"conn_type": "flux_git", "login": git_server.username, "password": git_server.password}
    monkeypatch.setenv("AIRFLOW_CONN_FLEET_AUTH", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_CONN_WRONG_AUTH", json.dumps({**conn, "password": "not-it-123"}))
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(tmp_path / "artifacts"))


def _run(op: GitRepositoryOperator) -> tuple[dict[str, Any], OutletEventAccessors]:
    events = OutletEventAccessors()
    return op.execute({"outlet_events": events}), events


def test_fetch_unchanged_then_new_revision(git_conn: None, git_server: GitServer, tmp_path: Path) -> None:
    git_server.create_repo("op-fleet", {"apps/a.yaml": "a: 1\n"})
    spec = {"url": git_server.repo_url("op-fleet"), "interval": "1m", "ref": {"branch": "main"}}
    spec["secretRef"] = {"name": "fleet_auth"}
    op = GitRepositoryOperator(task_id="fleet", name="fleet", spec=spec, cache_dir=str(tmp_path / "cache"))
    (alias,) = op.outlets
    assert isinstance(alias, AssetAlias)

    first, events = _run(op)
    assert first["changed"] and first["revision"].startswith("main@sha1:")
    assert first["source"] == "GitRepository/flux-system/fleet"
    assert Artifact.from_xcom(first).path is not None
    assert str(Path(first["path"])).startswith(str(tmp_path / "artifacts"))
    (event,) = events[alias].asset_alias_events
    asset = flux_asset("GitRepository", "flux-system", "fleet")
    assert event.dest_asset_key.uri == asset.uri
    assert event.extra == {"revision": first["revision"], "digest": first["digest"]}

    second, events = _run(op)
    assert not second["changed"] and second["digest"] == first["digest"]
    assert events[alias].asset_alias_events == []

    sha = git_server.commit("op-fleet", {"apps/a.yaml": "a: 2\n"})
    third, events = _run(op)
    assert third["changed"] and third["revision"] == f"main@sha1:{sha}"
    assert len(events[alias].asset_alias_events) == 1
    store = ArtifactStore(str(tmp_path / "artifacts"))
    assert store.latest("GitRepository/flux-system/fleet") == Artifact.from_xcom(third)


def test_explicit_conn_id_and_asset_outlet(git_conn: None, git_server: GitServer, tmp_path: Path) -> None:
    git_server.create_repo("op-other", {"x.yaml": "x\n"})
    manifest = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "other", "namespace": "apps"},
        "spec": {
            "url": git_server.repo_url("op-other"),
            "interval": "5m",
            "ref": {"branch": "main"},
            "secretRef": {"name": "fleet_auth"},
        },
    }
    asset = Asset(name="other", uri="flux://apps/GitRepository/other")
    wrong = GitRepositoryOperator(
        task_id="wrong", manifest=manifest, git_conn_id="wrong_auth", cache_dir=str(tmp_path / "c")
    )
    with pytest.raises(GitAuthError) as err:
        wrong.execute({})
    assert "not-it-123" not in str(err.value) and "GitRepository/apps/other" in str(err.value)
    op = GitRepositoryOperator(
        task_id="ok", manifest=manifest, outlets=[asset], cache_dir=str(tmp_path / "c")
    )
    result, events = _run(op)
    assert result["changed"] and events[asset].extra["revision"] == result["revision"]
