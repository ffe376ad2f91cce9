"""Starting and stopping: in-process Sandbox with a state file survives a restart; the CLI serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from airflow_flux_provider.sandbox import Sandbox, SandboxError


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
