"""The sandbox's kubelet (``--run-workloads``): Pods of allowed images run as processes, checked with kubectl.

Every manifest runs the dev kit's echo program from the session registry; what the tests
read is what a user reads: ``kubectl get/wait/logs``, Pod status, HTTP answers from the
Pods' own addresses, and whether their processes still exist.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib
import io
import json
import os
import signal
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from flux_devkit.sandbox import Sandbox
from tests.sandbox.manifests import echo_deployment

POD_IP_ENV = "[{name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]"


def job(name: str, image: str, code: str, *, backoff: int = 0, restart: str = "Never") -> str:
    return f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  backoffLimit: {backoff}
  template:
    spec:
      restartPolicy: {restart}
      containers:
      - name: main
        image: {image}
        command: ["python3", "-c", {json.dumps(code)}]
"""


def get(sandbox: Sandbox, namespace: str, *what: str) -> Any:
    return json.loads(sandbox.kubectl("get", *what, "-n", namespace, "-o", "json").stdout)


def pods(sandbox: Sandbox, namespace: str, selector: str) -> list[dict[str, Any]]:
    return list(get(sandbox, namespace, "pods", "-l", selector)["items"])


def first_state(sandbox: Sandbox, namespace: str, pod: str) -> dict[str, Any]:
    """The ``state`` of the Pod's first container ({} before the kubelet wrote one)."""
    status = get(sandbox, namespace, f"pod/{pod}").get("status", {})
    return dict((status.get("containerStatuses") or [{}])[0].get("state", {}))


def pull_error(sandbox: Sandbox, namespace: str, pod: str) -> str:
    """The message of an ErrImagePull/ImagePullBackOff wait, '' while there is none."""
    waiting = first_state(sandbox, namespace, pod).get("waiting", {})
    return (
        str(waiting.get("message", ""))
        if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff")
        else ""
    )


def wait_for(predicate: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def pids_of(pod: dict[str, Any]) -> list[int]:
    """The host processes started for a Pod (found by its name in their environment)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                env = handle.read().split(b"\0")
        except OSError:
            continue
        if f"HOSTNAME={pod['metadata']['name']}".encode() in env:
            found.append(int(entry))
    return found


def test_deployment_pods_run_for_real_with_their_own_addresses(
    workload_sandbox: Sandbox, workload_namespace: str, echo_image: str
) -> None:
    ns = ("-n", workload_namespace)
    workload_sandbox.kubectl("apply", *ns, "-f", "-", input=echo_deployment("web", echo_image, replicas=2))
    workload_sandbox.kubectl("rollout", "status", "deploy/web", "--timeout=60s", *ns)
    running = pods(workload_sandbox, workload_namespace, "app=web")
    addresses = {p["status"]["podIP"] for p in running}
    assert len(addresses) == 2 and all(a.startswith("127.1.") for a in addresses)
    for pod in running:
        answer = requests.get(f"http://{pod['status']['podIP']}:8080/hello", timeout=10).json()
        assert answer["pod"] == pod["metadata"]["name"] and answer["version"] == "one"
        status = pod["status"]["containerStatuses"][0]
        repository = echo_image.rsplit(":", 1)[0]
        assert status["imageID"].startswith(f"{repository}@sha256:") and status["ready"]
        log = workload_sandbox.kubectl("logs", pod["metadata"]["name"], *ns).stdout
        assert log == f"listening on {pod['status']['podIP']}:8080 version=one\n"


def test_rollout_replaces_processes_and_scale_to_zero_stops_them(
    workload_sandbox: Sandbox, workload_namespace: str, echo_image: str
) -> None:
    ns = ("-n", workload_namespace)
    workload_sandbox.kubectl("apply", *ns, "-f", "-", input=echo_deployment("roll", echo_image))
    workload_sandbox.kubectl("rollout", "status", "deploy/roll", "--timeout=60s", *ns)
    (first,) = pods(workload_sandbox, workload_namespace, "app=roll")
    old_pids = pids_of(first)
    assert old_pids
    workload_sandbox.kubectl(
        "apply", *ns, "-f", "-", input=echo_deployment("roll", echo_image, version="two")
    )
    workload_sandbox.kubectl("rollout", "status", "deploy/roll", "--timeout=60s", *ns)
    wait_for(lambda: len(pods(workload_sandbox, workload_namespace, "app=roll")) == 1, what="old pod gone")
    (second,) = pods(workload_sandbox, workload_namespace, "app=roll")
    assert second["metadata"]["name"] != first["metadata"]["name"]
    answer = requests.get(f"http://{second['status']['podIP']}:8080/", timeout=10).json()
    assert answer["version"] == "two"
    wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in old_pids), what="old processes ended")
    new_pids = pids_of(second)
    workload_sandbox.kubectl("scale", "deploy/roll", "--replicas=0", *ns)
    wait_for(lambda: not pods(workload_sandbox, workload_namespace, "app=roll"), what="pods gone")
    wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in new_pids), what="processes ended")
    status = get(workload_sandbox, workload_namespace, "deploy/roll")["status"]
    assert "readyReplicas" not in status and "replicas" not in status


def test_jobs_complete_or_fail_after_their_backoff_limit(
    workload_sandbox: Sandbox, workload_namespace: str, echo_image: str
) -> None:
    ns = ("-n", workload_namespace)
    ok = "import os; print('trained in', os.environ['HOSTNAME'])"
    workload_sandbox.kubectl("apply", *ns, "-f", "-", input=job("ok", echo_image, ok))
    workload_sandbox.kubectl(
        "apply", *ns, "-f", "-", input=job("bad", echo_image, "raise SystemExit(3)", backoff=1)
    )
    workload_sandbox.kubectl("wait", "--for=condition=complete", "job/ok", "--timeout=60s", *ns)
    assert workload_sandbox.kubectl("logs", "job/ok", *ns).stdout.startswith("trained in ok-")
    workload_sandbox.kubectl("wait", "--for=condition=failed", "job/bad", "--timeout=60s", *ns)
    status = get(workload_sandbox, workload_namespace, "job/bad")["status"]
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert (failed["reason"], status["failed"]) == ("BackoffLimitExceeded", 2)  # the first try and one retry
    runs = pods(workload_sandbox, workload_namespace, "job-name=bad")
    assert sorted(p["status"]["phase"] for p in runs) == ["Failed", "Failed"]
    assert {p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in runs} == {3}


def _first_event(trigger: Any) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def test_job_completion_sensor_waits_in_the_triggerer_and_fails_naming_the_job(
    workload_sandbox: Sandbox,
    workload_namespace: str,
    echo_image: str,
    airflow_connections: Any,
    tmp_path: Path,
) -> None:
    """The training DAG's wait: deferred while the Job runs, the Job's uid once it completes,
    a failure that names the Job and its logs; the lent Python has the dev kit's packages."""
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_flux_provider.errors import FluxError
    from airflow_flux_provider.sensors.jobs import JobCompletionSensor

    ns = ("-n", workload_namespace)
    conn = airflow_connections.kubernetes("jobs_k8s", workload_sandbox)
    gate = tmp_path / "go"  # the Job runs until the test opens the gate (processes see host files)
    slow = f"import os, time, flux_devkit\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.1)\n"
    slow += "print('trained with', flux_devkit.__name__)"
    workload_sandbox.kubectl("apply", *ns, "-f", "-", input=job("slow", echo_image, slow))
    workload_sandbox.kubectl("apply", *ns, "-f", "-", input=job("broken", echo_image, "raise SystemExit(4)"))

    def sensor(name: str) -> JobCompletionSensor:
        return JobCompletionSensor(
            task_id=f"wait_{name}", namespace=workload_namespace, job_name=name, kubernetes_conn_id=conn,
            poke_interval=1,
        )  # fmt: skip

    waiting = sensor("slow")
    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute({})  # type: ignore[arg-type]
    gate.touch()
    classpath, kwargs = deferred.value.trigger.serialize()  # as the triggerer rebuilds it from the DB
    module, _, name = classpath.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**kwargs)
    event = waiting.execute_complete({}, _first_event(trigger))  # type: ignore[arg-type]
    uid = get(workload_sandbox, workload_namespace, "job/slow")["metadata"]["uid"]
    assert (event["status"], event["name"], event["uid"]) == ("complete", "slow", uid)
    assert workload_sandbox.kubectl("logs", "job/slow", *ns).stdout == "trained with flux_devkit\n"

    workload_sandbox.kubectl("wait", "--for=condition=failed", "job/broken", "--timeout=60s", *ns)
    with pytest.raises(FluxError) as failed:
        sensor("broken").execute({})  # type: ignore[arg-type]
    assert f"Job/{workload_namespace}/broken" in str(failed.value)
    assert "BackoffLimitExceeded" in str(failed.value)
    assert f"kubectl logs -n {workload_namespace} job/broken" in str(failed.value)


def test_crash_loop_restarts_with_back_off_and_logs_previous_runs(
    workload_sandbox: Sandbox, workload_namespace: str, echo_image: str
) -> None:
    ns = ("-n", workload_namespace)
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: crash}}
spec:
  containers:
  - name: crashing
    image: {echo_image}
    command: ["python3", "-c", "import time; print('run', time.time_ns()); raise SystemExit(2)"]
  - name: server
    image: {echo_image}
    env: {POD_IP_ENV}
"""
    workload_sandbox.kubectl("apply", *ns, "-f", "-", input=manifest)

    def restarted_twice() -> dict[str, Any] | None:
        statuses = get(workload_sandbox, workload_namespace, "pod/crash")["status"].get(
            "containerStatuses", []
        )
        crashing = next((s for s in statuses if s["name"] == "crashing"), None)
        return crashing if crashing and crashing["restartCount"] >= 2 else None

    crashing = wait_for(restarted_twice, what="two restarts")
    assert crashing["lastState"]["terminated"]["exitCode"] == 2
    current = workload_sandbox.kubectl("logs", "crash", "-c", "crashing", *ns).stdout
    previous = workload_sandbox.kubectl("logs", "crash", "-c", "crashing", "--previous", *ns).stdout
    assert current.startswith("run ") and previous.startswith("run ")
    server = workload_sandbox.kubectl("logs", "crash", "-c", "server", "--previous", *ns, check=False)
    assert server.returncode != 0 and 'previous terminated container "server"' in server.stderr
    events = get(workload_sandbox, workload_namespace, "events")["items"]
    assert any(e["reason"] == "BackOff" and e["involvedObject"]["name"] == "crash" for e in events)


def test_logs_follow_until_the_container_ends(
    workload_sandbox: Sandbox, workload_namespace: str, echo_image: str
) -> None:
    ns = ("-n", workload_namespace)
    code = "import time\nfor i in range(3):\n    print('line', i, flush=True)\n    time.sleep(0.5)"
    workload_sandbox.kubectl("apply", *ns, "-f", "-", input=job("talk", echo_image, code))
    wait_for(lambda: pods(workload_sandbox, workload_namespace, "job-name=talk"), what="the job's pod")
    followed = workload_sandbox.kubectl("logs", "-f", "job/talk", *ns).stdout  # returns when the job ends
    assert followed == "line 0\nline 1\nline 2\n"
    stamped = workload_sandbox.kubectl("logs", "job/talk", "--timestamps", "--tail=1", *ns).stdout
    assert stamped.endswith(" line 2\n") and stamped[:4].isdigit()


def test_probes_decide_readiness_and_restarts(
    workload_sandbox: Sandbox, workload_namespace: str, echo_image: str
) -> None:
    ns = ("-n", workload_namespace)
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: probed}}
spec:
  containers:
  - name: unready
    image: {echo_image}
    env: [{{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}]
    readinessProbe: {{httpGet: {{path: /status/503, port: 8080}}, periodSeconds: 1, failureThreshold: 1}}
  - name: unhealthy
    image: {echo_image}
    env:
    - {{name: BIND_ADDRESS, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
    - {{name: PORT, value: "8081"}}
    livenessProbe: {{tcpSocket: {{port: 9}}, periodSeconds: 1, failureThreshold: 1}}
  - name: checked
    image: {echo_image}
    env: [{{name: POD_IP, value: "127.0.0.1"}}, {{name: PORT, value: "0"}}]
    readinessProbe:
      exec: {{command: [python3, -c, "import os; raise SystemExit(os.environ['HOSTNAME'] != 'probed')"]}}
      periodSeconds: 1
"""
    workload_sandbox.kubectl("apply", *ns, "-f", "-", input=manifest)

    def settled() -> dict[str, dict[str, Any]] | None:
        statuses = get(workload_sandbox, workload_namespace, "pod/probed")["status"].get(
            "containerStatuses", []
        )
        by_name = {s["name"]: s for s in statuses}
        ok = by_name and by_name["unhealthy"]["restartCount"] >= 1 and by_name["checked"]["ready"]
        return by_name if ok else None

    statuses = wait_for(settled, what="a liveness restart and the exec probe passing")
    assert not statuses["unready"]["ready"] and statuses["unready"]["state"].get("running")
    pod = get(workload_sandbox, workload_namespace, "pod/probed")
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and "unready" in ready["message"]
    reasons = {
        (e["reason"], e["message"].split(":")[0])
        for e in get(workload_sandbox, workload_namespace, "events")["items"]
    }
    assert ("Killing", "Container unhealthy failed liveness probe, will be restarted") in reasons
    assert ("Unhealthy", "Readiness probe failed") in reasons


def test_environment_from_config_maps_secrets_and_the_downward_api(
    workload_sandbox: Sandbox, workload_namespace: str, echo_image: str
) -> None:
    ns = ("-n", workload_namespace)
    dump = "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('X_')}))"
    manifest = f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: env}}
spec:
  backoffLimit: 0
  template:
    metadata: {{labels: {{team: ml}}}}
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: {echo_image}
        command: ["python3", "-c", {json.dumps(dump)}]
        resources: {{limits: {{memory: 64Mi}}}}
        envFrom: [{{configMapRef: {{name: settings}}, prefix: X_FROM_}}]
        env:
        - {{name: X_RATE, valueFrom: {{configMapKeyRef: {{name: settings, key: rate}}}}}}
        - {{name: X_TOKEN, valueFrom: {{secretKeyRef: {{name: creds, key: token}}}}}}
        - {{name: X_MISSING, valueFrom: {{secretKeyRef: {{name: creds, key: nope, optional: true}}}}}}
        - {{name: X_TEAM, valueFrom: {{fieldRef: {{fieldPath: "metadata.labels['team']"}}}}}}
        - {{name: X_NS, valueFrom: {{fieldRef: {{fieldPath: metadata.namespace}}}}}}
        - {{name: X_MEMORY_MI, valueFrom: {{resourceFieldRef: {{resource: limits.memory, divisor: 1Mi}}}}}}
        - {{name: X_URL, value: "http://$(X_TEAM).$(X_NS):$(X_RATE)/$(UNKNOWN)$$(X_NS)"}}
"""
    workload_sandbox.kubectl("apply", *ns, "-f", "-", input=manifest)
    (pod,) = wait_for(lambda: pods(workload_sandbox, workload_namespace, "job-name=env"), what="the pod")

    def waiting_reason() -> str:
        return str(
            first_state(workload_sandbox, workload_namespace, pod["metadata"]["name"])
            .get("waiting", {})
            .get("message", "")
        )

    assert wait_for(waiting_reason, what="a config error") == 'configmap "settings" not found'
    workload_sandbox.kubectl(
        "create", "configmap", "settings", "--from-literal=rate=0.01", "--from-literal=mode=fast", *ns
    )
    workload_sandbox.kubectl("create", "secret", "generic", "creds", "--from-literal=token=s3cr3t", *ns)
    workload_sandbox.kubectl("wait", "--for=condition=complete", "job/env", "--timeout=60s", *ns)
    env = json.loads(workload_sandbox.kubectl("logs", "job/env", *ns).stdout)
    assert env == {
        "X_FROM_rate": "0.01",
        "X_FROM_mode": "fast",
        "X_RATE": "0.01",
        "X_TOKEN": "s3cr3t",
        "X_TEAM": "ml",
        "X_NS": workload_namespace,
        "X_MEMORY_MI": "64",
        "X_URL": f"http://ml.{workload_namespace}:0.01/$(UNKNOWN)$(X_NS)",
    }


def test_images_from_other_registries_stay_simulated_and_say_so(
    workload_sandbox: Sandbox, workload_namespace: str
) -> None:
    ns = ("-n", workload_namespace)
    workload_sandbox.kubectl("run", "nginx", "--image=nginx:1.25", *ns)
    pod = wait_for(
        lambda: get(workload_sandbox, workload_namespace, "pod/nginx").get("status", {}).get("podIP")
    )
    pod = get(workload_sandbox, workload_namespace, "pod/nginx")
    simulated = next(c for c in pod["status"]["conditions"] if c["type"] == "Simulated")
    assert simulated["reason"] == "ImageNotAllowed" and "nginx:1.25" in simulated["message"]
    events = get(workload_sandbox, workload_namespace, "events")["items"]
    assert [e["reason"] for e in events if e["involvedObject"]["name"] == "nginx"] == ["Simulated"]
    assert pod["status"]["podIP"].startswith("127.1.")


def test_pull_errors_and_pull_secrets(
    workload_sandbox: Sandbox, workload_namespace: str, oci_registry: Any, echo_image: str
) -> None:
    from flux_devkit.images import ImageSpec, push_image

    ns = ("-n", workload_namespace)
    private = f"{oci_registry.host}/workloads/private-echo:1.0.0"
    push_image(oci_registry, "workloads/private-echo", ["1.0.0"], ImageSpec.program("echo"))
    missing = echo_image.replace(":1.0.0", ":9.9.9")
    workload_sandbox.kubectl("run", "missing", f"--image={missing}", *ns)
    workload_sandbox.kubectl("run", "refused", f"--image={private}", *ns)

    assert "manifest of tag 9.9.9 not found" in wait_for(
        lambda: pull_error(workload_sandbox, workload_namespace, "missing")
    )
    assert "refused" in wait_for(lambda: pull_error(workload_sandbox, workload_namespace, "refused"))
    config = json.dumps(
        {"auths": {oci_registry.host: {"username": oci_registry.username, "password": oci_registry.password}}}
    )
    workload_sandbox.kubectl(
        "create", "secret", "generic", "pull", "--type=kubernetes.io/dockerconfigjson",
        f"--from-literal=.dockerconfigjson={config}", *ns,
    )  # fmt: skip
    overrides = json.dumps({"spec": {"imagePullSecrets": [{"name": "pull"}]}})
    workload_sandbox.kubectl("run", "allowed", f"--image={private}", f"--overrides={overrides}", *ns)
    workload_sandbox.kubectl("wait", "--for=condition=ready", "pod/allowed", "--timeout=60s", *ns)
    assert oci_registry.password not in json.dumps(get(workload_sandbox, workload_namespace, "events"))


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["no-such-program"], 'exec: "no-such-program": executable file not found in $PATH'),
        (["sh", "-c", "true"], 'exec: "sh": executable file not found in $PATH'),  # host tools are not lent
        (["/app/../../../bin/sh"], 'exec: "/app/../../../bin/sh": stat /app/../../../bin/sh: no such file'),
    ],
)
def test_programs_outside_the_image_and_the_lent_tools_do_not_start(
    workload_sandbox: Sandbox, workload_namespace: str, echo_image: str, command: list[str], message: str
) -> None:
    ns = ("-n", workload_namespace)
    overrides = json.dumps(
        {
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "x", "image": echo_image, "command": command}],
            }
        }
    )
    workload_sandbox.kubectl("run", "x", f"--image={echo_image}", f"--overrides={overrides}", *ns)

    def ended() -> dict[str, Any] | None:
        status = get(workload_sandbox, workload_namespace, "pod/x").get("status", {})
        return status if status.get("phase") == "Failed" else None

    status = wait_for(ended, what="the pod to fail")
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("StartError", 128)
    assert terminated["message"].startswith(message)


def _layer(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for info, data in entries:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return gzip.compress(raw.getvalue())


def _file(name: str, data: bytes = b"x", **attrs: Any) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o755
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def _config(entrypoint: list[str]) -> dict[str, Any]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint, "WorkingDir": "/app"},
    }


def test_layers_apply_in_order_with_whiteouts(
    workload_sandbox: Sandbox, workload_namespace: str, oci_registry_anonymous: Any
) -> None:
    program = b"import os\nprint(sorted(os.listdir('.')), open('kept.txt').read())\n"
    lower = _layer([_file("app/list.py", program), _file("app/gone.txt"), _file("app/kept.txt", b"lower")])
    upper = _layer(
        [_file("app/.wh.gone.txt", b""), _file("app/kept.txt", b"upper"), _file("app/.wh...", b"")]
    )
    oci_registry_anonymous.push_image(
        "workloads/layered", "1", config=_config(["python3", "/app/list.py"]), layers=[lower, upper]
    )
    image = f"{oci_registry_anonymous.host}/workloads/layered:1"
    ns = ("-n", workload_namespace)
    workload_sandbox.kubectl("run", "layered", f"--image={image}", "--restart=Never", *ns)
    wait_for(
        lambda: get(workload_sandbox, workload_namespace, "pod/layered")["status"].get("phase") == "Succeeded"
    )
    assert workload_sandbox.kubectl("logs", "layered", *ns).stdout == "['kept.txt', 'list.py'] upper\n"


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (_file("../escaped.txt"), "climbs with '..'"),
        (_file("/etc/escaped.txt"), "is an absolute path"),
        (_file("app/link", b"", type=tarfile.SYMTYPE, linkname="../../../../etc/passwd"), "points outside"),
        (_file("app/dev", b"", type=tarfile.CHRTYPE), "device, FIFO or other special file"),
    ],
)
def test_hostile_layers_are_refused_and_write_nothing_outside(
    workload_sandbox: Sandbox,
    workload_namespace: str,
    oci_registry_anonymous: Any,
    entry: tuple[tarfile.TarInfo, bytes],
    why: str,
) -> None:
    repository = "workloads/hostile-" + "".join(c for c in why if c.isalnum())[:24].lower()
    oci_registry_anonymous.push_image(
        repository, "1", config=_config(["python3"]), layers=[_layer([_file("app/ok.txt"), entry])]
    )
    ns = ("-n", workload_namespace)
    workload_sandbox.kubectl("run", "hostile", f"--image={oci_registry_anonymous.host}/{repository}:1", *ns)

    def pull_failed() -> str:
        status = get(workload_sandbox, workload_namespace, "pod/hostile").get("status", {})
        state = (status.get("containerStatuses") or [{}])[0].get("state", {}).get("waiting", {})
        return (
            str(state.get("message", ""))
            if state.get("reason") in ("ErrImagePull", "ImagePullBackOff")
            else ""
        )

    assert why in wait_for(pull_failed, what="the pull to be refused")
    kubelet = workload_sandbox.directory / "kubelet"
    assert not list(kubelet.rglob("escaped.txt")) and not (kubelet.parent / "escaped.txt").exists()
    assert not list((kubelet / "images").glob(".pull-*"))  # the half-unpacked image was removed


def test_a_killed_sandbox_takes_its_containers_with_it(
    tmp_path: Any, oci_registry_anonymous: Any, echo_image: str
) -> None:
    from flux_devkit.sandbox import WorkloadSettings

    settings = WorkloadSettings((oci_registry_anonymous.host,), backoff_seconds=1)
    sandbox = Sandbox(tmp_path / "doomed", workloads=settings).start(child_process=True)
    try:
        sandbox.kubectl(
            "apply", "-n", "default", "-f", "-", input=echo_deployment("doomed", echo_image, replicas=2)
        )
        sandbox.kubectl("rollout", "status", "deploy/doomed", "-n", "default", "--timeout=60s")
        running = [pid for pod in pods(sandbox, "default", "app=doomed") for pid in pids_of(pod)]
        assert len(running) == 2
        os.kill(sandbox._process.pid, signal.SIGKILL)  # no chance to stop anything itself
        wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in running), what="orphans to die")
    finally:
        sandbox.stop()
