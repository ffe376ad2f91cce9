"""Helpers shared by the kustomize tests: source trees on disk and Kustomization objects."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider.kustomize import RenderStore
from airflow_flux_provider.specs import Kustomization, parse_object
from airflow_flux_provider.tools import kubectl_path


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def kustomization(path: str = "./app", namespace: str = "flux-system", **spec: Any) -> Kustomization:
    manifest = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {
            "interval": "10m",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "path": path,
            **spec,
        },
    }
    obj = parse_object(manifest)
    assert isinstance(obj, Kustomization)
    return obj


def bare_kustomize(folder: Path) -> str:
    """What plain ``kubectl kustomize`` prints for ``folder``."""
    done = subprocess.run(
        [kubectl_path(), "kustomize", str(folder), "--load-restrictor", "LoadRestrictionsNone"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
def store(tmp_path: Path) -> RenderStore:
    return RenderStore(tmp_path / "store")
