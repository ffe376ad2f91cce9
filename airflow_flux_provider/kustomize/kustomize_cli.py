"""Running the real kustomize (``kubectl kustomize``) and reading its output and errors."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

from airflow_flux_provider.kustomize.errors import KustomizeError
from airflow_flux_provider.tools import kubectl_path

_TIMEOUT_SECONDS = 300


@functools.cache
def kustomize_version(kubectl: str | None = None) -> str:
    """The kustomize version embedded in kubectl (e.g. ``v5.8.1``), part of every cache key."""
    binary = kubectl or kubectl_path()
    done = subprocess.run(
        [binary, "version", "--client", "-o", "json"], capture_output=True, text=True, check=False
    )
    try:
        return str(json.loads(done.stdout)["kustomizeVersion"])
    except (ValueError, KeyError, TypeError):
        return "unknown"


def kustomize_build(
    folder: Path, *, shown_as: Path, mirror: Path, obj: str, kubectl: str | None = None
) -> str:
    """``kubectl kustomize`` of ``folder``; errors quote kustomize with artifact-relative paths."""
    command = [
        kubectl or kubectl_path(),
        "kustomize",
        "--load-restrictor=LoadRestrictionsNone",
        "--",
        str(folder),
    ]
    try:
        done = subprocess.run(command, capture_output=True, check=False, timeout=_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise KustomizeError(
            f"kustomize build of {shown_as} did not finish in {_TIMEOUT_SECONDS}s", obj=obj
        ) from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        message = "\n".join(line for line in lines if not line.startswith("# Warning:"))
        message = message.removeprefix("error: ").replace(f"{mirror}/", "").replace(str(mirror), ".")
        raise KustomizeError(
            f"kustomize build failed for path {shown_as}: {message}; fix the files under that path "
            "(kubectl kustomize reproduces the error)",
            obj=obj,
            field="spec.path",
        )
    try:
        return done.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise KustomizeError(
            f"kustomize build of {shown_as} produced non-UTF-8 output; save the source files as UTF-8",
            obj=obj,
        ) from None
