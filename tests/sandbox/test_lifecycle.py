"""Starting and stopping: in-process Sandbox with a state file survives a restart; the CLI serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from flux_devkit.sandbox import Sandbox, SandboxError
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
