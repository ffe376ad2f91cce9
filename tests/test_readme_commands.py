"""Every ``bash`` block of the README runs as written (``bash -e``, from the repository root).

The blocks are read from README.md itself, so a new or edited block is run too. They get
what the README says they need: ``KUBECONFIG`` (a sandbox of their own, started empty),
``GITOPS_URL`` with ``GIT_USER``/``GIT_TOKEN`` (the demo's GitOps repository on the test Git
server) and ``REGISTRY_HOST`` with ``REGISTRY_USER``/``REGISTRY_TOKEN`` (the training image's
tags in the test registry). The working directory mirrors the repository (a link per
top-level entry), so what a block writes beside it (``.sandbox/``) stays in the test's folder.
Servers a block starts in the background are stopped with its process group.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flux_devkit.demo.environment import TRAINING_IMAGE, TRAINING_TAGS, gitops_files
from flux_devkit.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: The two long top-level commands, each run elsewhere in full.
RUN_ELSEWHERE = {
    "scripts/demo.sh": "tests/test_demo.py runs the demo's story and checks the cluster, Git and MLflow",
    "scripts/test.sh": "it runs this whole suite (CI's .ci/run)",
}


def readme_blocks() -> list[Any]:
    blocks = []
    for block in BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8")):
        elsewhere = [reason for command, reason in RUN_ELSEWHERE.items() if block.startswith(command)]
        marks = [pytest.mark.skip(reason="; ".join(elsewhere))] if elsewhere else []
        blocks.append(pytest.param(block, marks=marks, id=block.splitlines()[0][:60]))
    return blocks


def test_the_readme_has_the_blocks_this_test_expects() -> None:
    """A README without bash blocks (say, a changed fence) would make the test below pass vacuously."""
    firsts = [block.values[0].splitlines()[0] for block in readme_blocks()]
    assert firsts[0].startswith("scripts/demo.sh") and len(firsts) >= 5, firsts


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository seen from another folder: its entries linked, nothing a block writes shared."""
    view = tmp_path_factory.mktemp("readme-checkout")
    for entry in ROOT.iterdir():
        if not entry.name.startswith((".sandbox", ".state")):
            (view / entry.name).symlink_to(entry)
    return view


@pytest.fixture(scope="module")
def environment(
    tmp_path_factory: pytest.TempPathFactory, git_server: Any, oci_registry: Any
) -> Iterator[dict[str, str]]:
    for tag in TRAINING_TAGS:
        oci_registry.push_image(TRAINING_IMAGE, tag)
    cluster = Sandbox(tmp_path_factory.mktemp("readme-sandbox")).start(child_process=True)
    home = tmp_path_factory.mktemp("readme-home")
    yield {
        **os.environ,
        # a shell where the project's environment is active, as the first CLI block makes it
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "KUBECONFIG": str(cluster.kubeconfig),
        "GITOPS_URL": git_server.create_repo("readme-gitops", gitops_files(oci_registry.host)),
        "GIT_USER": git_server.username,
        "GIT_TOKEN": git_server.password,
        "REGISTRY_HOST": oci_registry.host,
        "REGISTRY_USER": oci_registry.username,
        "REGISTRY_TOKEN": oci_registry.password,
    }
    cluster.stop()


@pytest.mark.parametrize("block", readme_blocks())
def test_readme_block_runs_as_written(block: str, checkout: Path, environment: dict[str, str]) -> None:
    process = subprocess.Popen(
        ["bash", "-e", "-c", block],
        cwd=checkout,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=900)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # what the block left in the background
    assert process.returncode == 0, f"{block}\n---\n{output[-6000:]}"
