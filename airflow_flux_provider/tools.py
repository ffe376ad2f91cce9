"""Where the external binaries (kubectl with its kustomize, helm, git) are.

The project installs pinned, checksum-verified copies into the virtualenv's ``bin``
folder. Users may point elsewhere with ``[flux] kubectl_path`` / ``helm_path`` /
``git_path`` (see :mod:`airflow_flux_provider.settings`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from airflow_flux_provider import settings
from airflow_flux_provider.errors import FluxError


class ToolNotFoundError(FluxError):
    """A required binary is missing or not executable."""


def tool_path(name: str) -> str:
    """Resolve a tool: configured path, then the virtualenv's bin, then ``PATH``."""
    configured = settings.tool_path(name)
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise ToolNotFoundError(
                f"{configured} is not an executable file; fix [flux] {name}_path or run scripts/setup.sh",
                field=f"[flux] {name}_path",
            )
        return configured
    venv_bin = Path(sys.executable).parent / name
    if venv_bin.is_file() and os.access(venv_bin, os.X_OK):
        return str(venv_bin)
    found = shutil.which(name)
    if found:
        return found
    raise ToolNotFoundError(
        f"the {name} binary was not found; run scripts/setup.sh or set [flux] {name}_path",
        field=f"[flux] {name}_path",
    )


def kubectl_path() -> str:
    return tool_path("kubectl")


def helm_path() -> str:
    return tool_path("helm")


def git_path() -> str:
    return tool_path("git")
