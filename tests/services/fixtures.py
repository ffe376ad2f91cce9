"""Session-scoped fixtures that start real local services on 127.0.0.1.

The launchers live in :mod:`airflow_flux_provider.devservices` (the demo uses them
too); these fixtures only pick a folder under pytest's temp dir, start once per
session and stop at the end. Service logs stay in that folder, and a failing test gets
the tail of every service log it used appended to its report.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_flux_provider.devservices.git_http import GitServer, start_git_server
from airflow_flux_provider.devservices.process import tail
from airflow_flux_provider.devservices.registry import OciRegistry, start_registry


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where every service of this session keeps its data and log."""
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def git_server(services_dir: Path) -> Iterator[GitServer]:
    server = start_git_server(services_dir / "git" / "repos", log_path=services_dir / "git" / "git-http.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def oci_registry(services_dir: Path) -> Iterator[OciRegistry]:
    registry = start_registry(services_dir / "registry-auth")
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def oci_registry_anonymous(services_dir: Path) -> Iterator[OciRegistry]:
    registry = start_registry(services_dir / "registry-anon", username=None, password=None)
    yield registry
    registry.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            log_path = getattr(value, "log_path", None)
            if isinstance(log_path, Path):
                report.sections.append((f"service log {name} ({log_path})", tail(log_path, 60)))
    return report
