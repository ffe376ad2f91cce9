"""The HelmRelease fields that change how helm installs, upgrades, tests, rolls back and uninstalls,
seen in what the release ends up as (issue 26): hooks, test filters, kept values, history length,
cleanup, schema and ownership checks, server-side apply, namespaces, waiting.

Where the sandbox cannot show the difference (how helm waits, how long, which cascade), the
helm command line is read from a recording wrapper around the real binary.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider import events
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.release import uninstall_release
from airflow_flux_provider.helm.status import load_status
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.tools import helm_path
from tests.helm.conftest import helm_release, reconcile
from tests.helm.test_crds import _chart as crd_chart
from tests.helm.test_crds import _crd as crd_of

HOOKS = """{{- range $event := list "post-install" "post-upgrade" "post-rollback" "pre-delete" }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $.Release.Name }}-{{ $event }}
  annotations: {"helm.sh/hook": {{ $event }}}
data: {revision: "{{ $.Release.Revision }}"}
{{- end }}
"""
EXTRA = """{{- if .Values.extra }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-extra
data: {tier: {{ .Values.tier | quote }}}
{{- end }}
"""
PROBE = """apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-probe
  annotations: {"helm.sh/hook": test}
spec:
  restartPolicy: Never
  containers: [{name: probe, image: {{ .Values.testImage }}}]
"""


@pytest.fixture(scope="session")
def hooked_chart(tmp_path_factory: pytest.TempPathFactory, chart_dir: Path) -> Path:
    """The web chart with lifecycle hooks, a second test, an optional ConfigMap and a ``tier`` enum."""
    root = tmp_path_factory.mktemp("helm-hooked") / "web"
    shutil.copytree(chart_dir, root)
    (root / "templates" / "hooks.yaml").write_text(HOOKS)
    (root / "templates" / "extra.yaml").write_text(EXTRA)
    (root / "templates" / "tests" / "probe.yaml").write_text(PROBE)
    schema = json.loads((root / "values.schema.json").read_text())
    schema["properties"]["tier"] = {"enum": ["web", "batch"]}
    (root / "values.schema.json").write_text(json.dumps(schema))
    with (root / "values.yaml").open("a") as values:
        values.write("tier: web\nextra: false\n")
    return root


def _exists(cluster: Cluster, namespace: str, name: str) -> bool:
    return cluster.get(ObjectKey("v1", "ConfigMap", namespace, name)) is not None


def _history(sandbox: Any, namespace: str, name: str = "web") -> list[tuple[int, str]]:
    out = sandbox.helm("history", name, "-n", namespace, "-o", "json", check=False).stdout
    return [(h["revision"], h["status"]) for h in json.loads(out or "[]")]


@pytest.mark.parametrize("disabled", [False, True])
def test_lifecycle_hooks_run_unless_disabled_per_action(
    sandbox: Any, sandbox_namespace: str, hooked_chart: Path, cli: HelmCli, cluster: Cluster, disabled: bool
) -> None:
    ns = sandbox_namespace
    off = {"disableHooks": disabled}
    spec: dict[str, Any] = {
        "install": off, "upgrade": {**off, "remediation": {"retries": 1}}, "rollback": off, "uninstall": off,
    }  # fmt: skip
    hr = helm_release(ns, spec)
    assert reconcile(hr, hooked_chart, cli, cluster).ready
    assert _exists(cluster, ns, "web-post-install") is not disabled
    sandbox.faults.add(verb="patch", resource="configmaps", namespace=ns, code=403, times=1)
    outcome = reconcile(helm_release(ns, {**spec, "values": {"message": "v2"}}), hooked_chart, cli, cluster)
    assert outcome.actions == ["upgrade-failed", "rollback", "upgrade"]
    assert _exists(cluster, ns, "web-post-rollback") is not disabled
    assert _exists(cluster, ns, "web-post-upgrade") is not disabled
    assert uninstall_release(hr, cli, cluster)
    assert _exists(cluster, ns, "web-pre-delete") is not disabled  # a hook outlives its release


@pytest.mark.parametrize(
    ("filters", "hooks"),
    [
        ([], {"web-probe": "Succeeded", "web-smoke": "Succeeded"}),
        ([{"name": "web-probe", "exclude": True}], {"web-smoke": "Succeeded"}),
        ([{"name": "web-probe"}], {"web-probe": "Succeeded"}),
    ],
)
def test_test_filters_choose_the_hooks_that_run(
    sandbox_namespace: str,
    hooked_chart: Path,
    cli: HelmCli,
    cluster: Cluster,
    emitted: list[events.Event],
    filters: list[dict[str, Any]],
    hooks: dict[str, str],
) -> None:
    ns = sandbox_namespace
    outcome = reconcile(
        helm_release(ns, {"test": {"enable": True, "filters": filters}}), hooked_chart, cli, cluster
    )
    assert outcome.ready and outcome.actions == ["install", "test"]
    snap = load_status(cluster, "web", ns).history[0].to_status()
    assert snap["testHooks"] == {name: {"phase": phase} for name, phase in hooks.items()}
    assert snap["testFailed"] is False
    assert emitted[-1].message == (
        f"Helm test succeeded for release {ns}/web.v1 with chart web@1.2.0: "
        f"{len(hooks)} test hooks completed successfully"
    )


def test_a_failed_test_names_the_release_and_counts_against_the_install(
    sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster, emitted: list[events.Event]
) -> None:
    ns = sandbox_namespace
    spec = {"test": {"enable": True, "timeout": "5s"}, "values": {"testImage": "busybox:fail"}}
    outcome = reconcile(helm_release(ns, spec), chart_dir, cli, cluster)
    assert not outcome.ready and outcome.actions == ["install", "test-failed"]
    failed = next(e for e in emitted if e.reason == "TestFailed")
    helm_said = outcome.message.split("; last failure: Helm test failed: ")[1]  # the Ready message's
    assert (failed.severity, failed.message) == (
        "error", f"Helm test failed for release {ns}/web.v1 with chart web@1.2.0: {helm_said}",
    )  # fmt: skip
    status = load_status(cluster, "web", ns)
    assert (status.install_failures, status.upgrade_failures) == (1, 0)
    assert status.history[0].to_status()["testFailed"] is True
    assert "last failure: Helm test failed: " in outcome.message


@pytest.mark.parametrize(("preserve", "replicas"), [(True, 2), (False, 1)])
def test_preserve_values_keeps_the_last_release_values(
    sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster, preserve: bool, replicas: int
) -> None:
    ns = sandbox_namespace
    upgrade = {"preserveValues": preserve}
    assert reconcile(
        helm_release(ns, {"upgrade": upgrade, "values": {"replicas": 2}}), chart_dir, cli, cluster
    ).ready
    upgraded = reconcile(
        helm_release(ns, {"upgrade": upgrade, "values": {"message": "b"}}), chart_dir, cli, cluster
    )
    assert upgraded.ready and upgraded.actions == ["upgrade"]
    deployment = cluster.get(ObjectKey("apps/v1", "Deployment", ns, "web-web"))
    assert deployment is not None and deployment["spec"]["replicas"] == replicas
    assert (cli.work_dir / "values.yaml").stat().st_mode & 0o777 == 0o600  # values may hold secrets


def test_max_history_bounds_what_helm_keeps(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    ns = sandbox_namespace
    for message in ("a", "b", "c"):
        spec = {"maxHistory": 2, "values": {"message": message}}
        assert reconcile(helm_release(ns, spec), chart_dir, cli, cluster).ready
    assert _history(sandbox, ns) == [(2, "superseded"), (3, "deployed")]


@pytest.mark.parametrize("cleanup", [True, False])
def test_cleanup_on_fail_removes_what_a_failed_upgrade_created(
    sandbox: Any, sandbox_namespace: str, hooked_chart: Path, cli: HelmCli, cluster: Cluster, cleanup: bool
) -> None:
    ns = sandbox_namespace
    spec: dict[str, Any] = {"upgrade": {"cleanupOnFail": cleanup}}
    assert reconcile(helm_release(ns, spec), hooked_chart, cli, cluster).ready
    sandbox.faults.add(verb="patch", resource="deployments", namespace=ns, code=403)
    failed = reconcile(helm_release(ns, {**spec, "values": {"extra": True}}), hooked_chart, cli, cluster)
    assert failed.actions == ["upgrade-failed"]
    assert _exists(cluster, ns, "web-extra") is not cleanup


@pytest.mark.parametrize("disabled", [False, True])
def test_schema_validation_can_be_disabled(
    sandbox_namespace: str, hooked_chart: Path, cli: HelmCli, cluster: Cluster, disabled: bool
) -> None:
    ns = sandbox_namespace
    spec = {"install": {"disableSchemaValidation": disabled}, "values": {"tier": "gpu", "extra": True}}
    outcome = reconcile(helm_release(ns, spec), hooked_chart, cli, cluster)
    assert (outcome.ready, outcome.revision) == (disabled, int(disabled))  # refused before a revision
    if disabled:
        config = cluster.get(ObjectKey("v1", "ConfigMap", ns, "web-extra"))
        assert config is not None and config["data"] == {"tier": "gpu"}
    else:
        assert (
            "tier" in outcome.message
            and "values don't meet the specifications of the schema" in outcome.message
        )


@pytest.mark.parametrize("disabled", [False, True])
def test_objects_made_outside_helm_are_taken_over_unless_disabled(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster, disabled: bool
) -> None:
    ns = sandbox_namespace
    sandbox.kubectl("create", "configmap", "web-config", "-n", ns, "--from-literal=message=by-hand")
    outcome = reconcile(
        helm_release(ns, {"install": {"disableTakeOwnership": disabled}}), chart_dir, cli, cluster
    )
    assert outcome.ready is not disabled
    config = cluster.get(ObjectKey("v1", "ConfigMap", ns, "web-config"))
    assert config is not None
    assert config["data"]["message"] == ("by-hand" if disabled else "hello")
    if disabled:
        assert "exists and cannot be imported into the current release" in outcome.message


def _operations(cluster: Cluster, namespace: str) -> set[str]:
    """How helm wrote the ConfigMap: ``Apply`` (server-side) or ``Update`` (client-side)."""
    config = cluster.get(ObjectKey("v1", "ConfigMap", namespace, "web-config"))
    assert config is not None
    return {entry["operation"] for entry in config["metadata"]["managedFields"] if entry["manager"] == "helm"}


@pytest.mark.parametrize(
    ("install", "upgrade", "installed", "upgraded"),
    [
        (None, None, {"Apply"}, {"Apply"}),
        (False, None, {"Update"}, {"Update"}),  # auto: as the release was applied
        (False, "enabled", {"Update"}, {"Apply"}),
        (True, "disabled", {"Apply"}, {"Apply", "Update"}),
    ],
)
def test_server_side_apply_follows_the_spec(
    sandbox_namespace: str,
    chart_dir: Path,
    cli: HelmCli,
    cluster: Cluster,
    install: bool | None,
    upgrade: str | None,
    installed: set[str],
    upgraded: set[str],
) -> None:
    ns = sandbox_namespace
    spec: dict[str, Any] = {"install": {"serverSideApply": install}, "upgrade": {"serverSideApply": upgrade}}
    assert reconcile(helm_release(ns, spec), chart_dir, cli, cluster).ready
    assert _operations(cluster, ns) == installed
    assert reconcile(helm_release(ns, {**spec, "values": {"message": "b"}}), chart_dir, cli, cluster).ready
    assert _operations(cluster, ns) == upgraded


def test_crds_on_upgrade_with_create_are_not_replaced(
    tmp_path: Path, sandbox_namespace: str, cli: HelmCli, cluster: Cluster, crd_plural: str
) -> None:
    plural = crd_plural
    spec: dict[str, Any] = {"upgrade": {"crds": "Create"}}
    assert reconcile(
        helm_release(sandbox_namespace, spec), crd_chart(tmp_path, plural, "first"), cli, cluster
    ).ready
    changed = helm_release(sandbox_namespace, {**spec, "values": {"message": "x"}})
    upgraded = reconcile(changed, crd_chart(tmp_path, plural, "second"), cli, cluster)
    assert upgraded.ready and upgraded.actions == ["upgrade"]
    crd = crd_of(cluster, plural)
    assert (
        crd is not None and crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] == "first"
    )


def test_create_namespace_creates_the_release_namespace(
    sandbox: Any, sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    target = f"{sandbox_namespace[:45]}-new"
    spec = {"targetNamespace": target, "storageNamespace": target, "install": {"createNamespace": True}}
    try:
        outcome = reconcile(helm_release(sandbox_namespace, spec), chart_dir, cli, cluster)
        assert outcome.ready, outcome.message
        assert _exists(cluster, target, f"{target}-web-config")
    finally:
        sandbox.kubectl("delete", "namespace", target, "--wait=false", check=False)


def test_disable_wait_is_ready_without_waiting_for_the_objects(
    sandbox_namespace: str, chart_dir: Path, cli: HelmCli, cluster: Cluster
) -> None:
    spec = {"timeout": "2s", "install": {"disableWait": True}, "values": {"image": "nginx:fail"}}
    outcome = reconcile(helm_release(sandbox_namespace, spec), chart_dir, cli, cluster)
    assert outcome.ready and outcome.actions == ["install"], outcome.message


@pytest.fixture
def recording_cli(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[HelmCli, Path]]:
    """A HelmCli whose binary writes each command line (one argument per line) before running helm."""
    log = tmp_path / "helm-commands"
    wrapper = tmp_path / "helm"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" "--end--" >> {log}\nexec {helm_path()} "$@"\n')
    wrapper.chmod(0o755)
    with HelmCli(cluster, binary=str(wrapper)) as helm:
        yield helm, log


def _commands(log: Path, command: str) -> list[list[str]]:
    runs = [run.strip("\n").split("\n") for run in log.read_text().split("--end--\n") if run.strip()]
    return [run for run in runs if run[0] == command]


def _flags(run: list[str], *prefixes: str) -> list[str]:
    return [arg for arg in run if arg.startswith(prefixes)]


WATCHER = ["--timeout", "--wait=watcher", "--wait-for-jobs"]


@pytest.mark.parametrize(
    ("spec", "install", "upgrade", "uninstall"),
    [
        ({}, WATCHER, WATCHER, ["--timeout", "--cascade", "--wait=watcher"]),
        ({"waitStrategy": {"name": "legacy"},
          "install": {"disableWaitForJobs": True, "timeout": "7s", "disableOpenAPIValidation": True},
          "uninstall": {"disableWait": True, "deletionPropagation": "foreground", "timeout": "9s"}},
         ["--timeout", "--wait=legacy"], ["--timeout", "--wait=legacy", "--wait-for-jobs"],
         ["--timeout", "--cascade"]),
        ({"upgrade": {"disableWait": True}}, WATCHER, ["--timeout", "--wait=hookOnly"],
         ["--timeout", "--cascade", "--wait=watcher"]),
    ],
)  # fmt: skip
def test_how_helm_waits_follows_the_spec(
    sandbox_namespace: str,
    chart_dir: Path,
    cluster: Cluster,
    recording_cli: tuple[HelmCli, Path],
    spec: dict[str, Any],
    install: list[str],
    upgrade: list[str],
    uninstall: list[str],
) -> None:
    cli, log = recording_cli
    ns = sandbox_namespace
    hr = helm_release(ns, spec)
    assert reconcile(hr, chart_dir, cli, cluster).ready
    assert reconcile(helm_release(ns, {**spec, "values": {"message": "b"}}), chart_dir, cli, cluster).ready
    assert uninstall_release(hr, cli, cluster)
    waits = ("--wait", "--timeout", "--cascade")
    (installed,), (upgraded,), (removed,) = (_commands(log, c) for c in ("install", "upgrade", "uninstall"))
    assert _flags(installed, *waits) == install and _flags(upgraded, *waits) == upgrade
    assert _flags(removed, *waits) == uninstall
    unvalidated = spec.get("install", {}).get("disableOpenAPIValidation", False)
    assert ("--disable-openapi-validation" in installed) is unvalidated
    install_timeout = spec.get("install", {}).get("timeout", "60s")
    assert installed[installed.index("--timeout") + 1] == install_timeout
    assert upgraded[upgraded.index("--timeout") + 1] == "60s"
    uninstall_spec = spec.get("uninstall", {})
    assert removed[removed.index("--timeout") + 1] == uninstall_spec.get("timeout", "60s")
    assert removed[removed.index("--cascade") + 1] == uninstall_spec.get("deletionPropagation", "background")


def test_a_rollback_waits_keeps_history_bounds_and_forces_as_told(
    sandbox: Any,
    sandbox_namespace: str,
    chart_dir: Path,
    cluster: Cluster,
    recording_cli: tuple[HelmCli, Path],
) -> None:
    cli, log = recording_cli
    ns = sandbox_namespace
    spec: dict[str, Any] = {
        "maxHistory": 4,
        "install": {"serverSideApply": False},
        "upgrade": {"remediation": {"retries": 1}, "force": True},
        "rollback": {"timeout": "11s", "cleanupOnFail": True, "force": True, "disableWaitForJobs": True},
    }
    assert reconcile(helm_release(ns, spec), chart_dir, cli, cluster).ready
    sandbox.faults.add(verb="update", resource="configmaps", namespace=ns, code=403, times=1)
    outcome = reconcile(helm_release(ns, {**spec, "values": {"message": "b"}}), chart_dir, cli, cluster)
    assert outcome.actions == ["upgrade-failed", "rollback", "upgrade"], outcome.message
    (rollback,) = _commands(log, "rollback")
    assert rollback[rollback.index("--timeout") + 1] == "11s"
    assert rollback[rollback.index("--history-max") + 1] == "4"
    assert _flags(rollback, "--wait", "--cleanup", "--server-side", "--force") == [
        "--wait=watcher", "--cleanup-on-fail", "--server-side=false", "--force-replace",
    ]  # fmt: skip
    assert rollback[-2:] == ["web", "1"]
    upgrades = _commands(log, "upgrade")
    assert [_flags(run, "--server-side", "--force") for run in upgrades] == [
        ["--server-side=false", "--force-replace"]
    ] * 2
