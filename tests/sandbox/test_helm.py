"""Real helm against the sandbox: install --wait, upgrade, history, rollback, test, uninstall."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flux_devkit.sandbox import Sandbox, SandboxError
from tests.helm.conftest import DEPLOYMENT  # the same small chart's Deployment

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-web
spec:
  selector: {app: {{ .Release.Name }}}
  ports: [{port: 80}]
"""
TEST_POD = """apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-smoke
  annotations:
    "helm.sh/hook": test
spec:
  restartPolicy: Never
  containers:
  - name: curl
    image: curlimages/curl:8.10.1
"""


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("charts") / "web"
    (root / "templates" / "tests").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: '1.0'\n")
    (root / "values.yaml").write_text("replicas: 1\nimage: nginx:1.27\n")
    (root / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    (root / "templates" / "service.yaml").write_text(SERVICE)
    (root / "templates" / "tests" / "smoke.yaml").write_text(TEST_POD)
    return root


def test_helm_release_lifecycle(sandbox: Sandbox, sandbox_namespace: str, chart: Path) -> None:
    ns = ("--namespace", sandbox_namespace)
    sandbox.helm("install", "web", str(chart), "--wait", "--timeout", "60s", *ns)
    sandbox.helm("upgrade", "web", str(chart), "--set", "replicas=3", "--wait", "--timeout", "60s", *ns)
    deployment = json.loads(
        sandbox.kubectl("get", "deployment", "web-web", "-o", "json", "-n", sandbox_namespace).stdout
    )
    assert deployment["spec"]["replicas"] == 3
    history = json.loads(sandbox.helm("history", "web", "-o", "json", *ns).stdout)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]
    sandbox.helm("rollback", "web", "1", "--wait", "--timeout", "60s", *ns)
    deployment = json.loads(
        sandbox.kubectl("get", "deployment", "web-web", "-o", "json", "-n", sandbox_namespace).stdout
    )
    assert deployment["spec"]["replicas"] == 1
    tested = sandbox.helm("test", "web", "--timeout", "60s", *ns).stdout
    assert "Phase:          Succeeded" in tested or "Succeeded" in tested
    sandbox.helm("uninstall", "web", "--wait", "--timeout", "60s", *ns)
    remaining = sandbox.kubectl(
        "get", "deployments,services,secrets", "-n", sandbox_namespace, "-o", "name"
    ).stdout
    assert remaining.strip() == ""


def test_helm_install_wait_fails_for_a_broken_image(
    sandbox: Sandbox, sandbox_namespace: str, chart: Path
) -> None:
    ns = ("--namespace", sandbox_namespace)
    with pytest.raises(SandboxError, match=r"failed|deadline|timed out"):
        sandbox.helm(
            "install", "broken", str(chart), "--set", "image=nginx:fail", "--wait", "--timeout", "20s", *ns
        )
    status = json.loads(sandbox.helm("status", "broken", "-o", "json", *ns).stdout)
    assert status["info"]["status"] == "failed"
