"""A Prometheus exporter whose request counters and latencies a test or demo sets.

It stands in for the service mesh / ingress that Flagger's built-in metrics read, and
publishes the same series names and labels those built-in queries select on:

* Istio: ``istio_requests_total`` and ``istio_request_duration_milliseconds_*``
  (``reporter="destination"``, ``destination_workload_namespace``, ``destination_workload``);
* NGINX ingress: ``nginx_ingress_controller_requests`` and
  ``nginx_ingress_controller_response_duration_seconds_*`` (``namespace``, ``ingress``,
  ``canary`` non-empty, the ingress named after the workload);
* plain app metrics for custom MetricTemplates: ``http_requests_total`` and
  ``http_request_duration_seconds_*`` (``namespace``, ``app``).

Traffic is either added in one go (:meth:`MetricsExporter.add_requests`) or set as a
steady rate (:meth:`MetricsExporter.set_traffic`) that grows the counters on every
scrape, which is what ``rate(...[1m])`` needs to see a value.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from airflow_flux_provider.devservices.httpserver import LocalHTTPServer, LoggingHandler

# Upper bounds in milliseconds (Istio's defaults); the seconds series use the same bounds / 1000.
BUCKETS_MS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)


@dataclass
class _Workload:
    requests: dict[str, float] = field(default_factory=dict)  # status code -> total
    bucket_counts: list[float] = field(default_factory=lambda: [0.0] * (len(BUCKETS_MS) + 1))
    latency_sum_ms: float = 0.0
    latency_count: float = 0.0
    rps: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0

    def record(self, status: str, count: float, latency_ms: float) -> None:
        self.requests[status] = self.requests.get(status, 0.0) + count
        self.bucket_counts[bisect.bisect_left(BUCKETS_MS, latency_ms)] += count
        self.latency_sum_ms += latency_ms * count
        self.latency_count += count


def _labels(pairs: Mapping[str, str]) -> str:
    body = ",".join(f'{k}="{v}"' for k, v in pairs.items())
    return "{" + body + "}"


def _num(value: float) -> str:
    return repr(float(value))


class _ExporterHTTPServer(LocalHTTPServer):
    exporter: MetricsExporter


class _MetricsHandler(LoggingHandler):
    server: _ExporterHTTPServer

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/metrics":
            self.send_body(404, b"only /metrics here\n")
            return
        self.send_body(200, self.server.exporter.render().encode(), "text/plain; version=0.0.4")


class MetricsExporter:
    """Serves ``/metrics`` on a loopback port from counters held in this process."""

    def __init__(self, log_path: Path) -> None:
        self._lock = threading.Lock()
        self._workloads: dict[tuple[str, str], _Workload] = {}
        self._last_tick = time.monotonic()
        self._http = _ExporterHTTPServer(_MetricsHandler, log_path)
        self._http.exporter = self

    @property
    def url(self) -> str:
        return f"{self._http.url}/metrics"

    @property
    def target(self) -> str:
        """``host:port`` as a Prometheus scrape target."""
        return self._http.url.removeprefix("http://")

    @property
    def log_path(self) -> Path:
        return self._http.log_path

    def _workload(self, namespace: str, workload: str) -> _Workload:
        return self._workloads.setdefault((namespace, workload), _Workload())

    def add_requests(
        self,
        workload: str,
        status: int | str = 200,
        count: float = 1,
        *,
        namespace: str = "default",
        latency_ms: float = 10.0,
    ) -> None:
        """Count ``count`` finished requests with this status, each taking ``latency_ms``."""
        with self._lock:
            self._workload(namespace, workload).record(str(status), count, latency_ms)

    def set_traffic(
        self,
        workload: str,
        rps: Mapping[int | str, float],
        *,
        namespace: str = "default",
        latency_ms: float = 10.0,
    ) -> None:
        """Serve a steady ``rps`` per status code at ``latency_ms`` from now on (``{}`` stops it)."""
        with self._lock:
            self._advance()
            load = self._workload(namespace, workload)
            load.rps = {str(code): float(rate) for code, rate in rps.items()}
            load.latency_ms = latency_ms

    def _advance(self) -> None:
        now = time.monotonic()
        elapsed, self._last_tick = now - self._last_tick, now
        for load in self._workloads.values():
            for status, rate in load.rps.items():
                load.record(status, rate * elapsed, load.latency_ms)

    def render(self) -> str:
        """The exposition text (format 0.0.4) for every workload."""
        with self._lock:
            self._advance()
            lines = [
                "# TYPE istio_requests_total counter",
                "# TYPE istio_request_duration_milliseconds histogram",
                "# TYPE nginx_ingress_controller_requests counter",
                "# TYPE nginx_ingress_controller_response_duration_seconds histogram",
                "# TYPE http_requests_total counter",
                "# TYPE http_request_duration_seconds histogram",
            ]
            for (namespace, name), load in sorted(self._workloads.items()):
                istio = {
                    "reporter": "destination",
                    "destination_workload_namespace": namespace,
                    "destination_workload": name,
                }
                nginx = {"namespace": namespace, "ingress": name, "canary": f"{namespace}-{name}-canary-80"}
                app = {"namespace": namespace, "app": name}
                counters = (
                    ("istio_requests_total", istio, "response_code"),
                    ("nginx_ingress_controller_requests", nginx, "status"),
                    ("http_requests_total", app, "status"),
                )
                for status, total in sorted(load.requests.items()):
                    for metric, labels, status_label in counters:
                        lines.append(f"{metric}{_labels({**labels, status_label: status})} {_num(total)}")
                lines += _histogram("istio_request_duration_milliseconds", istio, load, 1.0)
                lines += _histogram("nginx_ingress_controller_response_duration_seconds", nginx, load, 1000.0)
                lines += _histogram("http_request_duration_seconds", app, load, 1000.0)
            return "\n".join(lines) + "\n"

    def stop(self) -> None:
        self._http.stop()


def _histogram(metric: str, labels: Mapping[str, str], load: _Workload, per_unit_ms: float) -> list[str]:
    """Cumulative ``_bucket`` lines plus ``_sum``/``_count``, in ms (1.0) or seconds (1000.0)."""
    lines = []
    running = 0.0
    for bound, count in zip((*BUCKETS_MS, float("inf")), load.bucket_counts, strict=True):
        running += count
        le = "+Inf" if bound == float("inf") else _num(bound / per_unit_ms)
        lines.append(f"{metric}_bucket{_labels({**labels, 'le': le})} {_num(running)}")
    lines.append(f"{metric}_sum{_labels(labels)} {_num(load.latency_sum_ms / per_unit_ms)}")
    lines.append(f"{metric}_count{_labels(labels)} {_num(load.latency_count)}")
    return lines


def start_metrics_exporter(log_path: Path) -> MetricsExporter:
    """Serve controllable mesh/ingress metrics on a free loopback port."""
    return MetricsExporter(log_path)
