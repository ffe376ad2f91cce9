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
from flux_devkit.images import ImageSpec, push_image
from flux_devkit.sandbox import Sandbox, WorkloadSettings
from flux_devkit.services.registry import OciRegistry

_namespace_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    server = Sandbox(tmp_path_factory.mktemp("sandbox")).start(child_process=True)
    install_crds(Cluster.from_kubeconfig(str(server.kubeconfig)))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def workload_sandbox(
    tmp_path_factory: pytest.TempPathFactory, oci_registry_anonymous: OciRegistry, oci_registry: OciRegistry
) -> Iterator[Sandbox]:
    """A second sandbox that runs Pods (``--run-workloads``) of both session registries' images.

    The node has no pull credentials: images of the authenticated registry need imagePullSecrets.
    Back-offs start at 1 s instead of 10 s so restarts and retries stay quick.
    """
    settings = WorkloadSettings((oci_registry_anonymous.host, oci_registry.host), backoff_seconds=1)
    server = Sandbox(tmp_path_factory.mktemp("workloads"), workloads=settings).start(child_process=True)
    install_crds(Cluster.from_kubeconfig(str(server.kubeconfig)))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def echo_image(oci_registry_anonymous: OciRegistry) -> str:
    """The dev kit's trivial HTTP program as an image in the anonymous registry (tag 1.0.0)."""
    push_image(oci_registry_anonymous, "workloads/echo", ["1.0.0"], ImageSpec.program("echo"))
    return f"{oci_registry_anonymous.host}/workloads/echo:1.0.0"


@pytest.fixture
def workload_namespace(workload_sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace in the workload sandbox (its Pods' processes end with it)."""
    yield from _namespace(workload_sandbox, request)


@pytest.fixture
def sandbox_namespace(sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty namespace named after the test; faults are cleared when the test ends."""
    yield from _namespace(sandbox, request)


def _namespace(sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[str]:
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t{next(_namespace_numbers)}-{stem}"
    sandbox.kubectl("create", "namespace", name)
    yield name
    sandbox.faults.clear()
    sandbox.kubectl("delete", "namespace", name, "--wait=false", check=False)
