"""Progress of the reconcile command: a status line on a real terminal, nothing of it in a pipe,
one JSON document with ``--output json``."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import run_reconcile
from tests.dags.test_dag_factory import CLUSTER, REPO


def _folder(git_server, sandbox, tmp_path: Path, repo: str) -> list[str]:
    """The dag factory's cluster folder on a repository of its own; the reconcile arguments."""
    url = git_server.create_repo(
        repo, {p: c.replace("factory-apps", "progress-apps") for p, c in REPO.items()}
    )
    folder = tmp_path / "clusters"
    folder.mkdir()
    cluster = CLUSTER.replace("factory-repo", repo).replace("factory-apps", "progress-apps")
    (folder / "cluster.yaml").write_text(cluster)
    secret = f"git-credentials={git_server.username}:{git_server.password}"
    return ["-f", str(folder), "--kubeconfig", str(sandbox.kubeconfig), "--var", f"GIT_URL={url}",
            "--var", "REPLICAS=1", "--secret", secret]  # fmt: skip


def test_json_output_is_one_document_with_every_outcome_and_a_pipe_gets_no_status_line(
    git_server, sandbox, tmp_path: Path
):
    args = _folder(git_server, sandbox, tmp_path, "progress-json")
    result = run_reconcile(*args, "--output", "json")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "…" not in result.stderr  # no status line: stderr is a pipe
    document = json.loads(result.stdout)  # the document alone: log lines went to stderr
    assert document["ok"] is True
    outcomes = {o["ref"]: o["status"] for o in document["objects"]}
    assert outcomes["GitRepository/flux-system/progress-json"] == "ready"
    assert outcomes["Kustomization/flux-system/infra"] == "ready"
    assert {"ref": "Deployment/progress-apps/web", "message": "created"} in document["events"]

    text = run_reconcile(*args)  # people's lines, unchanged, and still no status line in a pipe
    assert text.returncode == 0 and "\r" not in text.stderr and "…" not in text.stderr
    assert "► Deployment/progress-apps/web unchanged" in text.stdout.splitlines()


def test_a_terminal_sees_each_step_while_it_runs_and_then_only_the_lines(git_server, sandbox, tmp_path: Path):
    args = _folder(git_server, sandbox, tmp_path, "progress-terminal")
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_flux_provider", "reconcile", *args],
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    stdout, _ = process.communicate(timeout=600)
    terminal = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed when the command ended
            break
        if not chunk:
            break
        terminal += chunk
    os.close(leader)
    assert process.returncode == 0, terminal.decode(errors="replace")
    shown = terminal.decode()
    assert "[1/" in shown and "fetch GitRepository/flux-system/progress-terminal …" in shown
    assert "apply " in shown and "Kustomization/flux-system/infra" in shown
    assert shown.endswith("\r") and shown.rsplit("\r", 2)[-2].strip() == ""  # the last line erased
    assert "✔ Kustomization/flux-system/infra Ready" in stdout  # the lines themselves stay on stdout


def test_install_reports_each_definition_in_its_json_document(sandbox):
    argv = [sys.executable, "-m", "airflow_flux_provider", "install", "--kubeconfig", str(sandbox.kubeconfig)]
    result = subprocess.run(
        [*argv, "--output", "json"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    definitions = [o for o in document["objects"] if o["ref"].startswith("CustomResourceDefinition/")]
    assert definitions and all(o["status"] == "ready" for o in definitions)
    assert document["summary"] == f"{len(definitions)} CustomResourceDefinitions installed"
