"""``python -m airflow_flux_provider image-policy``: print the chosen tag or fail clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airflow_flux_provider.cli import main

POLICY = """\
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: ml-training
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: ml-training
  filterTags:
    pattern: '^prod-[a-f0-9]+-(?P<ts>[0-9]+)'
    extract: '$ts'
  policy:
    numerical:
      order: asc
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    tags = tmp_path / "tags.txt"
    tags.write_text("prod-abc123-100\nprod-def456-250\n\ndev-aaa-999\nprod-000111-90\n")
    return policy, tags


def test_prints_the_chosen_tag(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    policy, tags = files
    assert main(["image-policy", "-f", str(policy), "--tags", str(tags)]) == 0
    assert capsys.readouterr().out == "prod-def456-250\n"
    assert main(["image-policy", "-f", str(policy), "--tags", str(tags), "--image", "ghcr.io/x/app"]) == 0
    assert capsys.readouterr().out == "ghcr.io/x/app:prod-def456-250\n"


def test_no_qualifying_tag_exits_1(files: tuple[Path, Path]) -> None:
    policy, _ = files
    run = subprocess.run(
        [sys.executable, "-m", "airflow_flux_provider", "image-policy", "-f", str(policy), "--tags", "-"],
        input="dev-1\nlatest\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1 and run.stdout == ""
    assert "ImagePolicy/flux-system/ml-training: no tag matches filterTags.pattern" in run.stderr
    assert "Traceback" not in run.stderr


def test_missing_inputs_are_clear(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    policy, tags = files
    assert main(["image-policy", "-f", str(policy), "--tags", "/nonexistent/tags"]) == 1
    assert "cannot read tags from /nonexistent/tags" in capsys.readouterr().err
    assert main(["image-policy", "-f", str(policy), "--tags", str(tags), "--name", "other"]) == 1
    assert "holds no ImagePolicy named 'other'" in capsys.readouterr().err
