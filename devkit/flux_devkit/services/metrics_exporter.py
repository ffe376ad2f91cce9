"""A Prometheus exporter whose request counters and latencies a test or demo sets.

It stands in for the service mesh / ingress that Flagger's built-in metrics read, and
publishes the same series names and labels those built-in queries select on:

* Istio: ``istio_requests_total`` and ``istio_request_duration_milliseconds_*``
  (``reporter="destination"``, ``destination_workload_namespace``, ``destination_workload``);
* NGINX ingress: ``nginx_ingress_controller_requests`` and
  ``nginx_ingress_controller_response_duration_seconds_*`` (``namespace``, ``ingress``,
  ``canary`` non-empty, the ingress named after the workload);
* Kubernetes / Gateway API (apps instrumented with ``http_request_duration_seconds``):
  ``http_request_duration_seconds_*`` (``kubernetes_namespace``, ``kubernetes_pod_name``
  = ``<workload>-<hash>-<id>``, ``status``);
* a plain app counter for custom MetricTemplates: ``http_requests_total``
  (``namespace``, ``app``, ``status``).

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

from flux_devkit.services.httpserver import LocalHTTPServer, LoggingHandler

# Upper bounds in milliseconds (Istio's defaults); the seconds series use the same bounds / 1000.
BUCKETS_MS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)


# family -> (type, help); the names are the upstream ones, so promtool's naming lint does not apply.
FAMILIES = {
    "istio_requests_total": ("counter", "Requests seen by the Istio sidecar."),
    "istio_request_duration_milliseconds": ("histogram", "Istio request duration in ms."),
    "nginx_ingress_controller_requests": ("counter", "Requests through ingress-nginx."),
    "nginx_ingress_controller_response_duration_seconds": ("histogram", "ingress-nginx upstream time."),
    "http_requests_total": ("counter", "Requests counted by the app."),
    "http_request_duration_seconds": ("histogram", "Request duration measured by the app."),
}
# Pod name suffix as a ReplicaSet would add it; Flagger's kubernetes provider matches
# ``<target>-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)``.
POD_SUFFIX = "-5d8f7c9b6d-x7k2p"


@dataclass
class _Requests:
    """Finished requests of one status: how many, and how long they took."""

    count: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * (len(BUCKETS_MS) + 1))
    sum_ms: float = 0.0

    def record(self, count: float, latency_ms: float) -> None:
        self.count += count
        self.buckets[bisect.bisect_left(BUCKETS_MS, latency_ms)] += count
        self.sum_ms += latency_ms * count

    def merged(self, other: _Requests) -> _Requests:
        buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        return _Requests(self.count + other.count, buckets, self.sum_ms + other.sum_ms)


@dataclass
class _Workload:
    by_status: dict[str, _Requests] = field(default_factory=dict)
    rps: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0

    def record(self, status: str, count: float, latency_ms: float) -> None:
        self.by_status.setdefault(status, _Requests()).record(count, latency_ms)

    def all_requests(self) -> _Requests:
        total = _Requests()
        for requests in self.by_status.values():
            total = total.merged(requests)
        return total


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
            families: dict[str, list[str]] = {name: [] for name in FAMILIES}
            for (namespace, name), load in sorted(self._workloads.items()):
                for family, line in _workload_samples(namespace, name, load):
                    families[family].append(line)
        # One group per metric family, its TYPE line first, as the text format requires.
        lines = []
        for family, samples in families.items():
            kind, text = FAMILIES[family]
            lines += [f"# HELP {family} {text}", f"# TYPE {family} {kind}"]
            lines += samples
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        self._http.stop()


def _workload_samples(namespace: str, name: str, load: _Workload) -> list[tuple[str, str]]:
    """(family, sample line) for every series of one workload, labelled as each mesh/ingress does."""
    istio = {
        "reporter": "destination",
        "destination_workload_namespace": namespace,
        "destination_workload": name,
    }
    nginx = {"namespace": namespace, "ingress": name, "canary": f"{namespace}-{name}-canary-80"}
    app = {"namespace": namespace, "app": name}
    pod = {"kubernetes_namespace": namespace, "kubernetes_pod_name": name + POD_SUFFIX}
    counters = (
        ("istio_requests_total", istio, "response_code"),
        ("nginx_ingress_controller_requests", nginx, "status"),
        ("http_requests_total", app, "status"),
    )
    samples = []
    for status, requests in sorted(load.by_status.items()):
        for metric, labels, status_label in counters:
            line = f"{metric}{_labels({**labels, status_label: status})} {_num(requests.count)}"
            samples.append((metric, line))
        samples += _histogram("http_request_duration_seconds", {**pod, "status": status}, requests, 1000.0)
    everything = load.all_requests()
    samples += _histogram("istio_request_duration_milliseconds", istio, everything, 1.0)
    samples += _histogram("nginx_ingress_controller_response_duration_seconds", nginx, everything, 1000.0)
    return samples


def _histogram(
    metric: str, labels: Mapping[str, str], requests: _Requests, per_unit_ms: float
) -> list[tuple[str, str]]:
    """Cumulative ``_bucket`` lines plus ``_sum``/``_count``, in ms (1.0) or seconds (1000.0)."""
    lines = []
    running = 0.0
    for bound, count in zip((*BUCKETS_MS, float("inf")), requests.buckets, strict=True):
        running += count
        le = "+Inf" if bound == float("inf") else _num(bound / per_unit_ms)
        lines.append(f"{metric}_bucket{_labels({**labels, 'le': le})} {_num(running)}")
    lines.append(f"{metric}_sum{_labels(labels)} {_num(requests.sum_ms / per_unit_ms)}")
    lines.append(f"{metric}_count{_labels(labels)} {_num(requests.count)}")
    return [(metric, line) for line in lines]


def start_metrics_exporter(log_path: Path) -> MetricsExporter:
    """Serve controllable mesh/ingress metrics on a free loopback port."""
    return MetricsExporter(log_path)
