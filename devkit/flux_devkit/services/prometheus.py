"""Debian's Prometheus scraping a :class:`MetricsExporter` every second.

The one-second scrape and evaluation interval lets a ``rate(...[5s])`` query see new
traffic within a few seconds, so canary analysis can be exercised against the real
query engine instead of canned numbers.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

from flux_devkit.services.metrics_exporter import start_metrics_exporter
from flux_devkit.services.process import LOOPBACK, ServiceError, ServiceProcess, free_ports

SCRAPE_JOB = "flux-dev-exporter"
TARGETS_JOB = "flux-dev-targets"


class PrometheusServer:
    """A running Prometheus at :attr:`url` with its own :attr:`exporter` as the only target."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise ServiceError(
                "the prometheus binary is missing; run `apt-get install prometheus`", obj="service/prometheus"
            )
        workdir.mkdir(parents=True, exist_ok=True)
        self.exporter = start_metrics_exporter(workdir / "exporter.log")
        (port,) = free_ports(1)
        self.url = f"http://{LOOPBACK}:{port}"
        self.targets_dir = workdir / "targets"
        self.targets_dir.mkdir(exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": SCRAPE_JOB, "static_configs": [{"targets": [self.exporter.target]}]},
                {
                    "job_name": TARGETS_JOB,
                    "file_sd_configs": [
                        {"files": [str(self.targets_dir / "*.json")], "refresh_interval": "1s"}
                    ],
                },
            ],
        }
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        argv = [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
        ]
        self.process = ServiceProcess("prometheus", argv, workdir / "prometheus.log", cwd=workdir)
        self.log_path = self.process.log_path
        try:
            self.process.wait_http(f"{self.url}/-/ready", timeout=30)
        except ServiceError:
            self.exporter.stop()
            raise

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Run an instant query; return the result list (``[{"metric": {...}, "value": [t, "v"]}]``)."""
        try:
            response = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
            body = response.json()
        except (requests.RequestException, ValueError) as err:
            raise ServiceError(f"query failed: {err}", obj=f"service/prometheus {self.url}") from None
        if body.get("status") != "success":
            raise ServiceError(
                f"query {promql!r} rejected: {body.get('error', response.text[:200])}; fix the PromQL",
                obj=f"service/prometheus {self.url}",
            )
        result = body["data"]["result"]
        if body["data"].get("resultType") in ("scalar", "string"):
            return [{"metric": {}, "value": result}]
        return list(result)

    def wait_for(
        self, promql: str, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Re-run ``promql`` until ``predicate(result)`` holds; return that result or raise on timeout."""
        deadline = time.monotonic() + timeout
        result = self.query(promql)
        while not predicate(result):
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{promql!r} did not reach the expected value in {timeout:.0f} s; last result {result}",
                    obj=f"service/prometheus {self.url}",
                )
            time.sleep(0.25)
            result = self.query(promql)
        return result

    def scrape(self, name: str, target: str) -> None:
        """Scrape ``host:port`` (its ``/metrics``) from now on, with the label ``source=<name>``.

        Prometheus reads the target file within a second; nothing is restarted.
        """
        if not name.replace("-", "").isalnum():
            raise ServiceError(
                f"scrape target name {name!r}: use letters, digits and '-'", obj="service/prometheus"
            )
        entry = [{"targets": [target], "labels": {"source": name}}]
        path = self.targets_dir / f"{name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entry))
        tmp.replace(path)

    def info(self) -> dict[str, str]:
        """Endpoint first, then credentials: what a client (or the demo's connections) needs."""
        return {"url": self.url, "exporter": self.exporter.url}

    def stop(self) -> None:
        self.process.stop()
        self.exporter.stop()


def start_prometheus(workdir: Path) -> PrometheusServer:
    """Start an exporter and a Prometheus scraping it every second, both under ``workdir``."""
    return PrometheusServer(workdir)
