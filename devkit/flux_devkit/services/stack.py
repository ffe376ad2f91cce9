"""All local services at once, for the one-command demo and for manual exploration.

``DevStack`` starts the chosen services under one folder and stops them in reverse
order; :meth:`DevStack.describe` gives what a demo needs to create its Airflow
connections (endpoints and the throwaway credentials of these local services).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from flux_devkit.services.chart_repo import start_chart_repo
from flux_devkit.services.git_http import start_git_server
from flux_devkit.services.mlflow_server import start_mlflow_server
from flux_devkit.services.postgres import start_postgres
from flux_devkit.services.process import ServiceError
from flux_devkit.services.prometheus import start_prometheus
from flux_devkit.services.registry import start_registry
from flux_devkit.services.s3 import start_s3_server

_STARTERS: dict[str, Callable[[Path], Any]] = {
    "git": lambda d: start_git_server(d / "repos", log_path=d / "git-http.log"),
    "registry": start_registry,
    "s3": start_s3_server,
    "mlflow": start_mlflow_server,
    "prometheus": start_prometheus,
    "charts": start_chart_repo,
    "postgres": start_postgres,
}
SERVICES = tuple(_STARTERS)


class DevStack:
    """A set of running local services; use as a context manager or call :meth:`stop`."""

    def __init__(self, workdir: Path, services: Iterable[str] = SERVICES) -> None:
        chosen = list(services)
        unknown = sorted(set(chosen) - set(_STARTERS))
        if unknown:
            raise ServiceError(
                f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(SERVICES)}", obj="DevStack"
            )
        self.workdir = workdir
        self.services: dict[str, Any] = {}
        try:
            for name in chosen:
                self.services[name] = _STARTERS[name](workdir / name)
        except BaseException:
            self.stop()
            raise

    def __getitem__(self, name: str) -> Any:
        return self.services[name]

    def describe(self) -> dict[str, dict[str, str]]:
        """Endpoints and credentials per service (local throwaway values; keep the file private)."""
        return {name: service.info() for name, service in self.services.items()}

    def log_paths(self) -> dict[str, Path]:
        return {name: service.log_path for name, service in self.services.items()}

    def stop(self) -> None:
        while self.services:
            _, service = self.services.popitem()
            service.stop()

    def __enter__(self) -> DevStack:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
