"""The sandbox's network with workloads running: Service addresses, Endpoints, the mesh and its metrics.

Traffic is real HTTP to the echo program's Pods: through Service addresses (kube-proxy),
through the mesh gateway (callers outside the cluster) and through Pods' own sidecars; the
routing objects are the ones Flagger writes; the metrics are read back through Prometheus
with Flagger's own queries.
"""

from __future__ import annotations

import collections
import json
import socket
from typing import Any

import pytest
import requests

from airflow_flux_provider.canary.metrics import BUILTIN_QUERIES, prometheus_query, render
from flux_devkit.sandbox import Sandbox
from flux_devkit.services.prometheus import PrometheusServer
from flux_devkit.services.registry import OciRegistry
from tests.canary.fixtures import ROUTING_CRDS
from tests.sandbox.manifests import echo_deployment
from tests.sandbox.test_workloads import get, job, pods, wait_for


def service(name: str, app: str) -> str:
    """A Service ``name`` on port 80 in front of the ``http`` port of the Pods labelled ``app``."""
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {app}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""


def web(name: str, image: str, version: str, *, replicas: int = 1, ready_after: int = 0) -> str:
    """An echo Deployment and a Service of the same name."""
    deployment = echo_deployment(name, image, version=version, replicas=replicas, ready_after=ready_after)
    return f"{deployment}\n---\n{service(name, name)}"


@pytest.fixture
def app(workload_sandbox: Sandbox, workload_namespace: str, echo_image: str) -> str:
    """``web`` (apex Service on the primary), ``web-primary`` (v1) and ``web-canary`` (v2), all ready."""
    ns = ("-n", workload_namespace)
    manifests = [web("web-primary", echo_image, "v1"), web("web-canary", echo_image, "v2")]
    apex = service("web", "web-primary")
    workload_sandbox.kubectl("apply", *ns, "-f", "-", input="\n---\n".join([*manifests, apex]))
    for name in ("web-primary", "web-canary"):
        workload_sandbox.kubectl("rollout", "status", f"deploy/{name}", "--timeout=60s", *ns)
    wait_for(lambda: _endpoints_ready(workload_sandbox, workload_namespace, "web"), what="web's endpoints")
    return workload_namespace


def _endpoints_ready(sandbox: Sandbox, namespace: str, service: str) -> bool:
    endpoints = get(sandbox, namespace, f"endpoints/{service}")
    return any(subset.get("addresses") for subset in endpoints.get("subsets") or [])


def gateway(sandbox: Sandbox) -> dict[str, str]:
    return {"http": sandbox.network()["gateway"]}


def versions(sandbox: Sandbox, url: str, count: int, **kwargs: Any) -> collections.Counter[str]:
    seen: collections.Counter[str] = collections.Counter()
    with requests.Session() as session:
        for _ in range(count):
            answer = session.get(url, proxies=gateway(sandbox), timeout=10, **kwargs)
            seen[answer.json()["version"] if answer.status_code == 200 else str(answer.status_code)] += 1
    return seen


def test_services_get_addresses_and_endpoints_follow_readiness(
    workload_sandbox: Sandbox, workload_namespace: str, echo_image: str
) -> None:
    ns = ("-n", workload_namespace)
    workload_sandbox.kubectl(
        "apply", *ns, "-f", "-", input=web("slow", echo_image, "v1", replicas=2, ready_after=3)
    )

    def not_ready_listed() -> bool:
        subsets = get(workload_sandbox, workload_namespace, "endpoints/slow").get("subsets") or []
        return sum(len(s.get("notReadyAddresses") or []) for s in subsets) == 2

    wait_for(not_ready_listed, what="two not-ready addresses")
    wait_for(lambda: _endpoints_ready(workload_sandbox, workload_namespace, "slow"), what="ready addresses")
    wait_for(
        lambda: len(
            get(workload_sandbox, workload_namespace, "endpoints/slow")["subsets"][0].get("addresses", [])
        )
        == 2
    )
    (endpoints,) = get(workload_sandbox, workload_namespace, "endpoints/slow")["subsets"]
    assert endpoints["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]  # the named targetPort
    (eps,) = get(
        workload_sandbox, workload_namespace, "endpointslices", "-l", "kubernetes.io/service-name=slow"
    )["items"]
    assert sorted(e["addresses"][0] for e in eps["endpoints"]) == sorted(
        a["ip"] for a in endpoints["addresses"]
    )
    assert all(e["conditions"]["ready"] for e in eps["endpoints"])
    service = get(workload_sandbox, workload_namespace, "service/slow")
    address = service["spec"]["clusterIP"]
    assert address.startswith("127.96.")
    served = {requests.get(f"http://{address}/", timeout=10).json()["pod"] for _ in range(6)}
    assert served == {p["metadata"]["name"] for p in pods(workload_sandbox, workload_namespace, "app=slow")}


def test_cluster_names_resolve_from_pods_and_from_outside(
    workload_sandbox: Sandbox, app: str, echo_image: str
) -> None:
    ns = ("-n", app)
    urls = ("http://web-canary/a", f"http://web.{app}/b", f"http://web-primary.{app}.svc.cluster.local/c")
    fetch = f"import urllib.request as u\nfor url in {urls!r}:\n    print(u.urlopen(url).read().decode())\n"
    workload_sandbox.kubectl("apply", *ns, "-f", "-", input=job("client", echo_image, fetch))
    workload_sandbox.kubectl("wait", "--for=condition=complete", "job/client", "--timeout=60s", *ns)
    lines = workload_sandbox.kubectl("logs", "job/client", *ns).stdout.splitlines()
    answers = [json.loads(line) for line in lines if line]
    assert [(a["version"], a["path"]) for a in answers] == [("v2", "/a"), ("v1", "/b"), ("v1", "/c")]
    outside = requests.get(f"http://web-canary.{app}/x", proxies=gateway(workload_sandbox), timeout=10)
    assert outside.json()["version"] == "v2"
    refused = requests.get("http://example.com/", proxies=gateway(workload_sandbox), timeout=10)
    assert refused.status_code == 502 and "reaches this cluster's Services" in refused.text
    unknown = requests.get(f"http://nothing.{app}/", proxies=gateway(workload_sandbox), timeout=10)
    assert (unknown.status_code, unknown.text.strip()) == (
        502,
        f'sandbox mesh: no Service "nothing" in namespace "{app}" '
        "(the mesh reaches this cluster's Services, Pods and routes only)",
    )


def test_virtual_service_weights_and_header_matches(workload_sandbox: Sandbox, app: str) -> None:
    workload_sandbox.kubectl("apply", "-f", str(ROUTING_CRDS))
    virtual_service = """
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - match: [{headers: {x-canary: {exact: "insider"}}}]
    route: [{destination: {host: web-canary}}]
  - route:
    - {destination: {host: web-primary}, weight: 70}
    - {destination: {host: web-canary}, weight: 30}
"""
    workload_sandbox.kubectl("apply", "-n", app, "-f", "-", input=virtual_service)
    url = f"http://web.{app}/"
    wait_for(lambda: versions(workload_sandbox, url, 20)["v2"] > 0, what="the VirtualService to route")
    split = versions(workload_sandbox, url, 200)
    assert 30 <= split["v2"] <= 90 and split["v1"] + split["v2"] == 200, split
    assert versions(workload_sandbox, url, 20, headers={"x-canary": "insider"}) == {"v2": 20}


def test_httproute_and_nginx_canary_ingress_route_by_weight_and_header(
    workload_sandbox: Sandbox, app: str
) -> None:
    workload_sandbox.kubectl("apply", "-f", str(ROUTING_CRDS))
    routing = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: public, namespace: gateways}]
  hostnames: [route.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs:
    - {name: web-primary, port: 80, weight: 0}
    - {name: web-canary, port: 80, weight: 100}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - host: ingress.example.com
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web-canary
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-by-header: x-canary
    nginx.ingress.kubernetes.io/canary-weight: "0"
spec:
  rules:
  - host: ingress.example.com
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: web-canary, port: {number: 80}}}}]
"""
    workload_sandbox.kubectl("apply", "-n", app, "-f", "-", input=routing)
    wait_for(
        lambda: versions(workload_sandbox, "http://route.example.com/", 1) == {"v2": 1}, what="the route"
    )
    assert versions(workload_sandbox, "http://route.example.com/", 20) == {"v2": 20}
    assert versions(workload_sandbox, "http://ingress.example.com/", 20) == {"v1": 20}
    assert versions(workload_sandbox, "http://ingress.example.com/", 10, headers={"x-canary": "always"}) == {
        "v2": 10
    }
    metrics = requests.get(workload_sandbox.network()["metrics"], timeout=10).text
    canary = f'canary="{app}-web-canary-80"'
    lines = metrics.splitlines()
    assert any(line.startswith("nginx_ingress_controller_requests{") and canary in line for line in lines)


def test_mesh_metrics_answer_flaggers_queries_through_prometheus(
    workload_sandbox: Sandbox, app: str, prometheus: PrometheusServer
) -> None:
    prometheus.scrape("sandbox-mesh", workload_sandbox.network()["gateway"].removeprefix("http://"))
    scraped = 'up{source="sandbox-mesh"}'
    prometheus.wait_for(scraped, lambda result: bool(result) and result[0]["value"][1] == "1", timeout=60)
    # rate() sees a counter grow between two scrapes, and a series starts at its first scraped
    # value: send a first half, wait until Prometheus has it, then the second half.
    labels = f'destination_workload="web-canary",destination_workload_namespace="{app}"'
    carried = f"sum(istio_requests_total{{{labels}}})"

    def scraped_all(sent: int) -> None:
        prometheus.wait_for(carried, lambda result: bool(result) and result[0]["value"][1] == str(sent), 60)

    with requests.Session() as session:
        for i in range(40):  # a quarter of the canary's answers are 500s
            path = "/status/500" if i % 4 == 0 else "/"
            session.get(f"http://web-canary.{app}{path}", proxies=gateway(workload_sandbox), timeout=10)
            if i == 19:
                scraped_all(20)
    scraped_all(40)  # the rate below is then of all 40 requests, not of the part scraped so far
    success, duration = BUILTIN_QUERIES["istio"]
    variables = {"namespace": app, "target": "web-canary", "interval": "1m"}
    rate = wait_for(
        lambda: _query(prometheus, render(success, variables, {})), timeout=60, what="the success rate"
    )
    assert 70 <= rate <= 80  # 30 of 40 requests answered below 500
    assert _query(prometheus, render(duration, variables, {})) > 0


LOADTESTER = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: flagger-loadtester}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: flagger-loadtester}}}}
  template:
    metadata: {{labels: {{app: flagger-loadtester}}}}
    spec:
      containers:
      - name: loadtester
        image: {image}
        ports: [{{name: http, containerPort: 8080}}]
        env: [{{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}]
        readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: flagger-loadtester}}
spec:
  selector: {{app: flagger-loadtester}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""


def _carried(sandbox: Sandbox, source: str, destination: str) -> int:
    """Requests the mesh carried from ``source``'s Pods to ``destination``'s (istio_requests_total)."""
    total = 0
    for line in requests.get(sandbox.network()["metrics"], timeout=10).text.splitlines():
        if (
            line.startswith("istio_requests_total{")
            and f'source_workload="{source}"' in line
            and f'destination_workload="{destination}"' in line
        ):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_the_load_tester_runs_hey_through_the_mesh_for_flaggers_cmd_webhook(
    workload_sandbox: Sandbox, app: str, oci_registry_anonymous: OciRegistry
) -> None:
    """The demo's load tester: Flagger's webhook payload starts the real hey in its Pod, whose
    requests reach the canary by its cluster name through the Pod's sidecar and are counted."""
    from flux_devkit.images import ImageSpec, push_image

    push_image(oci_registry_anonymous, "workloads/loadtester", ["1.0.0"], ImageSpec.program("loadtester"))
    image = f"{oci_registry_anonymous.host}/workloads/loadtester:1.0.0"
    workload_sandbox.kubectl("apply", "-n", app, "-f", "-", input=LOADTESTER.format(image=image))
    workload_sandbox.kubectl("rollout", "status", "deploy/flagger-loadtester", "--timeout=60s", "-n", app)
    wait_for(lambda: _endpoints_ready(workload_sandbox, app, "flagger-loadtester"), what="the load tester")
    url = f"http://flagger-loadtester.{app}/"

    def hook(metadata: dict[str, str] | None) -> requests.Response:
        body = {"name": "web", "namespace": app, "phase": "Progressing", "checksum": "x"}
        return requests.post(url, json={**body, "metadata": metadata} if metadata else body,
                             proxies=gateway(workload_sandbox), timeout=10)  # fmt: skip

    load = {"type": "cmd", "cmd": "hey -n 40 -q 5 -c 1 http://web-canary/"}  # 8 s at 5 requests/s
    first, again = hook(load), hook(load)
    assert (first.status_code, first.text.strip()) == (202, "command started")
    assert (again.status_code, again.text.strip()) == (202, "command already running, skipped")
    wait_for(
        lambda: _carried(workload_sandbox, "flagger-loadtester", "web-canary") == 40,
        timeout=180,  # 8 s on a quiet machine; a hang guard at load 19
        what="40 requests",
    )
    logs = workload_sandbox.kubectl("logs", "deploy/flagger-loadtester", "-n", app).stdout
    assert "started hey -x http://127.1." in logs and "finished hey: exit code 0" in logs
    refused = [hook(None), hook({"type": "bash", "cmd": "ls"}), hook({"type": "cmd"})]
    assert [(r.status_code, r.text.strip()) for r in refused] == [
        (400, "metadata not found in payload"),
        (400, "type bash is not supported by this load tester; use cmd"),
        (400, "cmd not found in metadata"),
    ]


def _query(prometheus: PrometheusServer, promql: str) -> float | None:
    try:
        return prometheus_query(prometheus.url, promql)
    except Exception:
        return None


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET http://web/ HTTP/1.1\r\nHost: web\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (
            b"POST http://web/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (b"POST http://web/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"CONNECT web:443 HTTP/1.1\r\n\r\n", 405),
        (b"GET /anything HTTP/1.1\r\n\r\n", 404),
        (b"GET http://10.0.0.1/ HTTP/1.1\r\n\r\n", 502),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
    ],
)
def test_the_gateway_refuses_what_is_not_plain_http_to_the_cluster(
    workload_sandbox: Sandbox, raw: bytes, status: int
) -> None:
    host, port = workload_sandbox.network()["gateway"].removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        answer = sock.recv(4096)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
