"""The real ``helm`` binary, run in isolation and with secrets scrubbed from what it prints.

Every :class:`HelmCli` gets private ``HELM_CONFIG_HOME``/``DATA`` folders and repository and
content caches (never the user's ``~/.config/helm``); what holds nothing of a task's own, the
API discovery cache, the plugins (our post-renderer) and helm's Wasm compilation cache, is
shared per user, so a release no longer creates and removes eight folders. Also a
``--kubeconfig`` written from the :class:`~airflow_flux_provider.kube.Cluster` the task acts
on (same server, identity and impersonation as the Python client; never the worker's own
kubeconfig), a subprocess timeout a little longer than helm's own ``--timeout``, and a
scrubber that replaces every known secret value in stdout, stderr and error messages with
``***``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from airflow_flux_provider.credentials import private_folder
from airflow_flux_provider.helm.errors import HelmCommandError
from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.tools import helm_path

_MARGIN_SECONDS = 30.0
_MAJOR_VERSIONS: dict[str, int] = {}  # per binary path: one ``helm version`` per process


class HelmCli:
    """One isolated helm environment talking to one cluster; use as a context manager."""

    def __init__(
        self, cluster: Cluster | None, *, binary: str | None = None, secrets: Iterable[str] = ()
    ) -> None:
        """``cluster=None``: chart commands only (pull, show); a cluster command is an error."""
        self.binary = binary or helm_path()
        self._secrets: set[str] = {s for s in secrets if s}
        self._home = Path(tempfile.mkdtemp(prefix="flux-helm-"))
        self.plugins_dir = private_folder("helm-plugins")
        self.kubeconfig: Path | None = None
        if cluster is not None:
            kubeconfig = cluster.kubeconfig()
            user = kubeconfig["users"][0]["user"]
            self.add_secrets([user.get("token", ""), user.get("password", "")])
            self.kubeconfig = self._home / "kubeconfig"
            fd = os.open(self.kubeconfig, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(kubeconfig, handle)  # JSON is YAML, and 20x faster to write than PyYAML's
        self._major: int | None = None

    def __enter__(self) -> HelmCli:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self._home, ignore_errors=True)

    @property
    def work_dir(self) -> Path:
        """A private folder removed with the CLI (values files, post-renderer config)."""
        return self._home

    def add_secrets(self, values: Iterable[str]) -> None:
        self._secrets.update(v for v in values if v)

    def scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def _env(self) -> dict[str, str]:
        keep = (
            "PATH", "LANG", "LC_ALL", "SSL_CERT_FILE", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "TMPDIR",
        )  # fmt: skip
        env = {k: os.environ[k] for k in keep if k in os.environ}
        env.update(
            HOME=str(self._home),
            HELM_CONFIG_HOME=str(self._home / "config"),
            HELM_DATA_HOME=str(self._home / "data"),
            HELM_REPOSITORY_CACHE=str(self._home / "repository"),  # indexes of the task's repositories
            HELM_CONTENT_CACHE=str(self._home / "content"),  # charts the task pulled
            HELM_CACHE_HOME=str(private_folder("helm-cache")),  # left: Wasm compilation (wazero-build)
            HELM_PLUGINS=str(self.plugins_dir),
            # API discovery (not secret, per server) shared with this user's other helm runs: each
            # private HOME wrote and removed about 40 cache files per release
            KUBECACHEDIR=str(private_folder("kube-cache")),
        )
        return env

    @property
    def major_version(self) -> int:
        """3 or 4: flags differ (``--wait`` strategies, post-renderer plugins)."""
        if self._major is None:
            self._major = _MAJOR_VERSIONS.get(self.binary)
        if self._major is None:
            out = self.run(["version", "--template", "{{.Version}}"], timeout=30, cluster=False)
            match = re.match(r"v?(\d+)", out.strip())
            self._major = _MAJOR_VERSIONS[self.binary] = int(match[1]) if match else 4
        return self._major

    def run(
        self,
        args: Sequence[str],
        *,
        timeout: float,
        operands: Sequence[str] = (),
        obj: str | None = None,
        cluster: bool = True,
        action: str | None = None,
    ) -> str:
        """Run ``helm args -- operands``; stdout (scrubbed) or :class:`HelmCommandError`.

        ``args`` is the command and its flags (values from a spec as ``--flag=value``);
        ``operands`` are the positional values (release, chart, revision) and come after
        ``--``, so one starting with ``-`` is a name to helm, never an option.
        """
        argv = [self.binary, *args]
        what = action or f"helm {args[0]}"
        if cluster:
            if self.kubeconfig is None:
                raise HelmCommandError(f"{what} needs a cluster and none was given", obj=obj)
            argv.append(f"--kubeconfig={self.kubeconfig}")
        if operands:
            argv += ["--", *operands]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=self._env(),
                timeout=timeout + _MARGIN_SECONDS,
                check=False,
            )
        except FileNotFoundError:
            raise HelmCommandError(
                f"the helm binary {self.binary} is missing; run scripts/setup.sh or set [flux] helm_path",
                obj=obj,
                field="[flux] helm_path",
            ) from None
        except subprocess.TimeoutExpired:
            raise HelmCommandError(
                f"{what} did not finish within {timeout + _MARGIN_SECONDS:.0f}s; raise the timeout "
                "or check the API server",
                obj=obj,
            ) from None
        if done.returncode != 0:
            raise HelmCommandError(f"{what} failed: {self._error_text(done.stderr)}", obj=obj)
        return self.scrub(done.stdout)

    def _error_text(self, stderr: str) -> str:
        """From helm's first ``Error:`` line to the end (schema errors span lines), scrubbed."""
        lines = [line.strip() for line in self.scrub(stderr).strip().splitlines() if line.strip()]
        start = next((i for i, line in enumerate(lines) if line.startswith("Error")), max(len(lines) - 3, 0))
        text = " ".join(lines[start:]).removeprefix("Error: ")
        return text[:2000] or "no error output"
