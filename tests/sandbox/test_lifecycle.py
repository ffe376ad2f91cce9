"""Starting and stopping: in-process Sandbox with a state file survives a restart; the CLI serves."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from airflow_flux_provider import tools
from flux_devkit.sandbox import Sandbox, SandboxError
from flux_devkit.services.process import ServiceProcess
from tests.sandbox.test_crd import crd


def test_state_file_survives_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Sandbox(tmp_path / "one", state_file=state).start() as first:
        core = client.CoreV1Api(first.api_client())
        core.create_namespaced_config_map("default", {"metadata": {"name": "kept"}, "data": {"k": "v"}})
        uid = core.read_namespaced_config_map("kept", "default").metadata.uid
    with Sandbox(tmp_path / "two", state_file=state).start() as second:
        core = client.CoreV1Api(second.api_client())
        kept = core.read_namespaced_config_map("kept", "default")
        assert kept.data == {"k": "v"} and kept.metadata.uid == uid
        again = core.create_namespaced_config_map("default", {"metadata": {"name": "new"}})
        assert int(again.metadata.resource_version) > int(kept.metadata.resource_version)


def test_custom_resources_are_served_again_after_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Sandbox(tmp_path / "one", state_file=state).start() as first:
        client.ApiextensionsV1Api(first.api_client()).create_custom_resource_definition(
            crd("persist.example.com")
        )
        client.CustomObjectsApi(first.api_client()).create_namespaced_custom_object(
            "persist.example.com",
            "v1",
            "default",
            "widgets",
            {
                "apiVersion": "persist.example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {"a": 1},
            },
        )
    with Sandbox(tmp_path / "two", state_file=state).start() as second:
        widget = client.CustomObjectsApi(second.api_client()).get_namespaced_custom_object(
            "persist.example.com", "v1", "default", "widgets", "w"
        )
        assert widget["spec"] == {"a": 1}


def test_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{broken")
    with pytest.raises(SandboxError, match="delete the file to start empty"):
        Sandbox(tmp_path, state_file=state).start()


def test_port_in_use_is_a_clear_error(sandbox: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="pick another --port"):
        Sandbox(tmp_path, port=sandbox.port).start()


def test_repr_hides_the_token(sandbox: Sandbox) -> None:
    assert sandbox.token not in repr(sandbox)
    assert sandbox.token not in (sandbox.directory / "sandbox.log").read_text()


def test_cli_kubeconfig_written_elsewhere_works_from_any_folder(tmp_path: Path) -> None:
    """``serve --dir <relative> --kubeconfig <elsewhere>``: kubectl works from another folder, a copy too."""
    run, elsewhere, other = tmp_path / "run", tmp_path / "elsewhere", tmp_path / "other"
    for folder in (run, elsewhere, other):
        folder.mkdir()
    kubeconfig = elsewhere / "kubeconfig"
    argv = [sys.executable, "-m", "flux_devkit.sandbox", "serve", "--port", "0", "--dir", "state"]
    server = ServiceProcess(
        "sandbox-cli", [*argv, "--kubeconfig", str(kubeconfig)], tmp_path / "cli.log", cwd=run
    )
    try:
        deadline = time.monotonic() + 30
        while not kubeconfig.exists():
            assert server.running() and time.monotonic() < deadline, server.log_tail()
            time.sleep(0.05)
        copy = other / "copied-kubeconfig"
        shutil.copy(kubeconfig, copy)
        cluster = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]
        assert "certificate-authority" not in cluster and cluster["certificate-authority-data"]
        for config in (kubeconfig, copy):
            result = subprocess.run(
                [
                    tools.kubectl_path(),
                    "--kubeconfig",
                    str(config),
                    "get",
                    "namespace",
                    "default",
                    "-o",
                    "name",
                ],
                cwd=other,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert (result.returncode, result.stdout.strip()) == (0, "namespace/default"), result.stderr
        assert (run / "state" / "pki" / "ca.crt").exists()
    finally:
        server.stop()
