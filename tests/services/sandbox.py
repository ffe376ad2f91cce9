"""Session-scoped sandbox Kubernetes API server fixture.

``sandbox`` is one :class:`~flux_devkit.sandbox.Sandbox` child process for the
whole session (``.kubeconfig``, ``.url``, ``.token``, ``.api_client()``,
``.dynamic_client()``, ``.kubectl(*args)``, ``.helm(*args)``, ``.faults``, ``.counters``);
``sandbox_namespace`` gives each test a fresh namespace and deletes it afterwards.
The session's cluster serves the Flux and Flagger CRDs, as a bootstrapped cluster does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.kube.objects import install_crds
from flux_devkit.sandbox import Sandbox

_namespace_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    server = Sandbox(tmp_path_factory.mktemp("sandbox")).start(child_process=True)
    install_crds(Cluster.from_kubeconfig(str(server.kubeconfig)))
    yield server
    server.stop()


@pytest.fixture
def sandbox_namespace(sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty namespace named after the test; faults are cleared when the test ends."""
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t{next(_namespace_numbers)}-{stem}"
    sandbox.kubectl("create", "namespace", name)
    yield name
    sandbox.faults.clear()
    sandbox.kubectl("delete", "namespace", name, "--wait=false", check=False)
