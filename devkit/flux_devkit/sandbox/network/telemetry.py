"""The series the proxies export from the requests they carry, named as the meshes name them.

Flagger's built-in queries read these (see ``airflow_flux_provider.canary.metrics``):

* Istio: ``istio_requests_total`` and ``istio_request_duration_milliseconds`` with
  ``reporter="destination"``, ``destination_workload(_namespace)``, ``response_code``…;
* ingress-nginx (requests that came through an Ingress): ``nginx_ingress_controller_requests``
  and ``nginx_ingress_controller_response_duration_seconds`` with ``namespace``, ``ingress``,
  ``status`` and ``canary`` (the canary upstream's name, empty for the main backend);
* the "kubernetes"/Gateway API observer's app metric ``http_request_duration_seconds`` with
  ``kubernetes_namespace``/``kubernetes_pod_name`` as Prometheus' Pod relabelling writes them.
"""

from __future__ import annotations

import bisect
import logging
import threading
from dataclasses import dataclass, field

from flux_devkit.sandbox.network.routes import Destination, Endpoint, PodInfo

log = logging.getLogger(__name__)

ISTIO_BUCKETS_MS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
MAX_SERIES = 50_000  # label sets per family: Pod churn must not grow memory for ever
FAMILIES = {
    "istio_requests_total": ("counter", "Requests seen by the sandbox mesh (Istio's standard metric).", ()),
    "istio_request_duration_milliseconds": ("histogram", "Request duration in ms.", ISTIO_BUCKETS_MS),
    "nginx_ingress_controller_requests": ("counter", "Requests through the sandbox ingress.", ()),
    "nginx_ingress_controller_response_duration_seconds": (
        "histogram",
        "Upstream response time through the sandbox ingress.",
        SECONDS_BUCKETS,
    ),
    "http_request_duration_seconds": ("histogram", "Request duration per Pod.", SECONDS_BUCKETS),
}

Labels = tuple[tuple[str, str], ...]


@dataclass
class _Histogram:
    buckets: list[int]
    total: float = 0.0
    count: int = 0


@dataclass
class Telemetry:
    """Counters and histograms by family and label set; :meth:`exposition` is Prometheus' text format."""

    _series: dict[str, dict[Labels, int | _Histogram]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _count(self, family: str, labels: Labels) -> None:
        series = self._series.setdefault(family, {})
        if labels in series or len(series) < MAX_SERIES:
            current = series.get(labels, 0)
            assert isinstance(current, int)
            series[labels] = current + 1

    def _observe(self, family: str, labels: Labels, value: float) -> None:
        bounds = FAMILIES[family][2]
        series = self._series.setdefault(family, {})
        if labels not in series and len(series) >= MAX_SERIES:
            return
        histogram = series.setdefault(labels, _Histogram([0] * len(bounds)))
        assert isinstance(histogram, _Histogram)
        index = bisect.bisect_left(bounds, value)
        for i in range(index, len(bounds)):  # buckets are cumulative
            histogram.buckets[i] += 1
        histogram.total += value
        histogram.count += 1

    def record(
        self,
        destination: Destination,
        endpoint: Endpoint | None,
        source: PodInfo | None,
        status: int,
        seconds: float,
        method: str,
    ) -> None:
        """One finished request (``endpoint`` None: it never reached a Pod)."""
        pod = endpoint.pod if endpoint else None
        service = destination.service
        istio: Labels = (
            ("reporter", "destination"),
            ("source_workload", source.workload if source else "unknown"),
            ("source_workload_namespace", source.namespace if source else "unknown"),
            ("source_app", source.app if source else "unknown"),
            ("destination_workload", pod.workload if pod else "unknown"),
            ("destination_workload_namespace", pod.namespace if pod else "unknown"),
            ("destination_app", pod.app if pod else "unknown"),
            ("destination_version", pod.version if pod else "unknown"),
            ("destination_service", service.fqdn if service else "unknown"),
            ("destination_service_name", service.name if service else "unknown"),
            ("destination_service_namespace", service.namespace if service else "unknown"),
            ("request_protocol", "http"),
            ("response_code", str(status)),
            ("response_flags", "-" if endpoint else "UH"),
        )
        with self._lock:
            self._count("istio_requests_total", istio)
            self._observe("istio_request_duration_milliseconds", istio, seconds * 1000)
            if pod is not None:
                app: Labels = (
                    ("kubernetes_namespace", pod.namespace),
                    ("kubernetes_pod_name", pod.name),
                    ("method", method),
                    ("status", str(status)),
                )
                self._observe("http_request_duration_seconds", app, seconds)
            if destination.ingress is not None:
                nginx: Labels = (
                    ("namespace", destination.ingress[0]),
                    ("ingress", destination.ingress[1]),
                    ("service", service.name if service else ""),
                    ("method", method),
                    ("status", str(status)),
                    ("canary", destination.canary),
                )
                self._count("nginx_ingress_controller_requests", nginx)
                self._observe("nginx_ingress_controller_response_duration_seconds", nginx, seconds)

    def exposition(self) -> bytes:
        lines: list[str] = []
        with self._lock:
            for family, (kind, text, bounds) in FAMILIES.items():
                series = self._series.get(family)
                if not series:
                    continue
                lines += [f"# HELP {family} {text}", f"# TYPE {family} {kind}"]
                for labels, value in series.items():
                    if isinstance(value, _Histogram):
                        for bound, count in zip(bounds, value.buckets, strict=True):
                            lines.append(f"{family}_bucket{_render(labels, ('le', f'{bound:g}'))} {count}")
                        lines.append(f"{family}_bucket{_render(labels, ('le', '+Inf'))} {value.count}")
                        lines.append(f"{family}_sum{_render(labels)} {value.total:.6f}")
                        lines.append(f"{family}_count{_render(labels)} {value.count}")
                    else:
                        lines.append(f"{family}{_render(labels)} {value}")
        return ("\n".join(lines) + "\n").encode()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _render(labels: Labels, *extra: tuple[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in (*labels, *extra)) + "}"
