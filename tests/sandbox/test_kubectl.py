"""Real kubectl against the sandbox: create, get, wait, rollout status, delete, and simulated failures."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml
from kubernetes import client, watch

from flux_devkit.sandbox import Sandbox, SandboxError


def deployment(name: str, image: str = "nginx:1.27", replicas: int = 2) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": image}]},
                },
            },
        }
    )


def job(name: str, image: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {
                "backoffLimit": 1,
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "run", "image": image}]}
                },
            },
        }
    )


def test_create_wait_rollout_get_delete(sandbox: Sandbox, sandbox_namespace: str) -> None:
    ns = ("-n", sandbox_namespace)
    out = sandbox.kubectl("create", "-f", "-", *ns, input=deployment("web")).stdout
    assert "deployment.apps/web created" in out
    sandbox.kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=30s", *ns)
    rollout = sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=30s", *ns).stdout
    assert 'deployment "web" successfully rolled out' in rollout
    live = yaml.safe_load(sandbox.kubectl("get", "deployment", "web", "-o", "yaml", *ns).stdout)
    assert live["status"]["readyReplicas"] == 2
    assert live["status"]["observedGeneration"] == live["metadata"]["generation"]
    table = sandbox.kubectl("get", "deployments", *ns).stdout
    assert table.split()[:2] == ["NAME", "AGE"] and "web" in table
    sandbox.kubectl("delete", "deployment", "web", "--timeout=30s", *ns)
    assert sandbox.kubectl("get", "deployments", *ns).stderr.startswith("No resources found")


def test_failing_image_ends_in_progress_deadline_exceeded(sandbox: Sandbox, sandbox_namespace: str) -> None:
    ns = ("-n", sandbox_namespace)
    sandbox.kubectl("create", "-f", "-", *ns, input=deployment("broken", image="nginx:fail"))
    with pytest.raises(SandboxError, match="exceeded its progress deadline"):
        sandbox.kubectl("rollout", "status", "deployment/broken", "--timeout=30s", *ns)
    live = yaml.safe_load(sandbox.kubectl("get", "deployment", "broken", "-o", "yaml", *ns).stdout)
    progressing = next(c for c in live["status"]["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "ProgressDeadlineExceeded"


def test_job_completes_with_a_succeeded_pod(sandbox: Sandbox, sandbox_namespace: str) -> None:
    ns = ("-n", sandbox_namespace)
    sandbox.kubectl("create", "-f", "-", *ns, input=job("migrate", "busybox:1.36"))
    sandbox.kubectl("wait", "--for=condition=Complete", "job/migrate", "--timeout=30s", *ns)
    pods = yaml.safe_load(sandbox.kubectl("get", "pods", "-l", "job-name=migrate", "-o", "yaml", *ns).stdout)
    assert [p["status"]["phase"] for p in pods["items"]] == ["Succeeded"]
    sandbox.kubectl("delete", "job", "migrate", *ns)  # background propagation removes its pod too
    assert sandbox.kubectl("get", "pods", *ns).stderr.startswith("No resources found")


def test_failing_job_fails(sandbox: Sandbox, sandbox_namespace: str) -> None:
    ns = ("-n", sandbox_namespace)
    sandbox.kubectl("create", "-f", "-", *ns, input=job("crash", "busybox:fail"))
    sandbox.kubectl("wait", "--for=condition=Failed", "job/crash", "--timeout=30s", *ns)
    pods = yaml.safe_load(sandbox.kubectl("get", "pods", "-l", "job-name=crash", "-o", "yaml", *ns).stdout)
    assert [p["status"]["phase"] for p in pods["items"]] == ["Failed"]


def test_pvc_binds_and_pod_runs(sandbox: Sandbox, sandbox_namespace: str) -> None:
    ns = ("-n", sandbox_namespace)
    manifest = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 2Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: server}
spec:
  containers: [{name: app, image: nginx}]
"""
    sandbox.kubectl("create", "-f", "-", *ns, input=manifest)
    sandbox.kubectl("wait", "--for=jsonpath={.status.phase}=Bound", "pvc/data", "--timeout=30s", *ns)
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/server", "--timeout=30s", *ns)
    pvc = yaml.safe_load(sandbox.kubectl("get", "pvc", "data", "-o", "yaml", *ns).stdout)
    assert pvc["status"]["capacity"] == {"storage": "2Gi"}


def test_unknown_kind_is_refused_by_kubectl(sandbox: Sandbox, sandbox_namespace: str) -> None:
    manifest = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
    result = sandbox.kubectl("create", "-f", "-", "-n", sandbox_namespace, input=manifest, check=False)
    assert result.returncode != 0
    assert 'no matches for kind "Widget" in version "example.com/v1"' in result.stderr


def test_typed_client_protobuf_bodies_are_understood(sandbox: Sandbox, sandbox_namespace: str) -> None:
    ns = ("-n", sandbox_namespace)
    sandbox.kubectl("create", "secret", "generic", "creds", "--from-literal=password=s3cret", *ns)
    sandbox.kubectl("create", "configmap", "settings", "--from-literal=mode=fast", *ns)
    secret = yaml.safe_load(sandbox.kubectl("get", "secret", "creds", "-o", "yaml", *ns).stdout)
    assert secret["data"] == {"password": "czNjcmV0"} and secret["type"] == "Opaque"
    settings = yaml.safe_load(sandbox.kubectl("get", "configmap", "settings", "-o", "yaml", *ns).stdout)
    assert settings["data"] == {"mode": "fast"}
    assert "generateName" not in settings["metadata"]


def test_deployment_owns_a_replicaset_and_running_pods(sandbox: Sandbox, sandbox_namespace: str) -> None:
    ns = ("-n", sandbox_namespace)
    sandbox.kubectl("create", "-f", "-", *ns, input=deployment("pods", replicas=2))
    sandbox.kubectl("rollout", "status", "deployment/pods", "--timeout=30s", *ns)
    sandbox.kubectl("wait", "--for=condition=Ready", "pod", "-l", "app=pods", "--timeout=30s", *ns)
    pods = yaml.safe_load(sandbox.kubectl("get", "pods", "-l", "app=pods", "-o", "yaml", *ns).stdout)["items"]
    assert len(pods) == 2 and {p["status"]["phase"] for p in pods} == {"Running"}
    owner = pods[0]["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "ReplicaSet" and owner["name"].startswith("pods-")
    sandbox.kubectl("delete", "deployment", "pods", *ns)
    assert sandbox.kubectl("get", "replicasets,pods", *ns).stderr.startswith("No resources found")


def test_client_side_apply_scale_and_rollout(sandbox: Sandbox, sandbox_namespace: str) -> None:
    ns = ("-n", sandbox_namespace)
    sandbox.kubectl("apply", "-f", "-", *ns, input=deployment("csa", replicas=1))
    sandbox.kubectl("rollout", "status", "deployment/csa", "--timeout=30s", *ns)
    out = sandbox.kubectl(
        "apply", "-f", "-", *ns, input=deployment("csa", image="nginx:1.28", replicas=1)
    ).stdout
    assert "deployment.apps/csa configured" in out  # a strategic merge patch computed by kubectl
    sandbox.kubectl("scale", "deployment/csa", "--replicas=4", *ns)
    sandbox.kubectl("rollout", "status", "deployment/csa", "--timeout=30s", *ns)
    live = yaml.safe_load(sandbox.kubectl("get", "deployment", "csa", "-o", "yaml", *ns).stdout)
    assert live["spec"]["replicas"] == 4 and live["status"]["readyReplicas"] == 4
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    replicasets = yaml.safe_load(sandbox.kubectl("get", "replicasets", "-o", "yaml", *ns).stdout)["items"]
    assert sorted(rs["spec"]["replicas"] for rs in replicasets) == [0, 4]  # the old template scaled down


def test_kubectl_logs_reads_the_log_subresource(sandbox: Sandbox, sandbox_namespace: str) -> None:
    ns = ("-n", sandbox_namespace)
    sandbox.kubectl("create", "-f", "-", *ns, input=job("quiet", "busybox:1.36"))
    sandbox.kubectl("wait", "--for=condition=Complete", "job/quiet", "--timeout=30s", *ns)
    assert sandbox.kubectl("logs", "job/quiet", *ns).stdout == ""
    missing = sandbox.kubectl("logs", "pod/none", *ns, check=False)
    assert missing.returncode != 0 and 'pods "none" not found' in missing.stderr


def _settled(sandbox: Sandbox, namespace: str, name: str) -> dict[str, Any]:
    """The Deployment once rolled out and no controller writes it any more (two equal reads)."""
    sandbox.kubectl("rollout", "status", f"deployment/{name}", "--timeout=30s", "-n", namespace)
    apps = client.AppsV1Api(sandbox.api_client())
    seen = apps.api_client.sanitize_for_serialization(apps.read_namespaced_deployment(name, namespace))
    for _ in range(50):
        time.sleep(0.1)
        again = apps.api_client.sanitize_for_serialization(apps.read_namespaced_deployment(name, namespace))
        if again == seen:
            return dict(seen)
        seen = again
    raise AssertionError(f"deployment/{name} kept changing: {seen['metadata']['resourceVersion']}")


NO_OP_WRITES = {
    "server-side apply": (("apply", "--server-side", "-f", "-"), ("apply", "--server-side", "-f", "-")),
    "client-side apply": (("apply", "-f", "-"), ("apply", "-f", "-")),
    "merge patch with the live value": (
        ("apply", "--server-side", "-f", "-"),
        ("patch", "deployment/noop", "--type=merge", "-p", '{"spec":{"replicas":2}}'),
    ),
    "strategic patch with the live image": (
        ("create", "-f", "-"),
        ("set", "image", "deployment/noop", "app=nginx:1.27"),
    ),
}


@pytest.mark.parametrize("first,again", NO_OP_WRITES.values(), ids=NO_OP_WRITES)
def test_a_write_that_changes_nothing_persists_nothing(
    sandbox: Sandbox, sandbox_namespace: str, first: tuple[str, ...], again: tuple[str, ...]
) -> None:
    """As kube-apiserver: same resourceVersion, same managedFields (order and times), no watch event.

    The Deployment's status was written by its controller in between, so the status manager's
    entry is newer than the applier's: the case that used to reorder managedFields and write.
    """
    ns = ("-n", sandbox_namespace)
    manifest = deployment("noop")
    sandbox.kubectl(*first, *ns, input=manifest)
    before = _settled(sandbox, sandbox_namespace, "noop")
    assert any(e.get("subresource") == "status" for e in before["metadata"]["managedFields"])
    sandbox.kubectl(*again, *ns, input=manifest)
    after = client.AppsV1Api(sandbox.api_client()).read_namespaced_deployment("noop", sandbox_namespace)
    after_dict = sandbox.api_client().sanitize_for_serialization(after)
    assert after_dict["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after_dict["metadata"]["managedFields"] == before["metadata"]["managedFields"]
    events = watch.Watch().stream(
        client.AppsV1Api(sandbox.api_client()).list_namespaced_deployment,
        sandbox_namespace,
        resource_version=before["metadata"]["resourceVersion"],
        timeout_seconds=1,
    )
    assert [event["type"] for event in events] == []
