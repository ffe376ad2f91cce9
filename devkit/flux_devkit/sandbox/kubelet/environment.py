"""A container's command line, environment and working folder, as the kubelet builds them.

* Environment: the image's ``Env``, then the service links of the namespace, ``envFrom``
  and ``env`` in order (later wins); ``valueFrom`` reads ConfigMap and Secret keys and the
  downward API (``fieldRef``, ``resourceFieldRef``); ``$(VAR)`` in values, ``command`` and
  ``args`` expands to variables defined before it (``$$`` is a literal ``$``).
* Command line: ``command`` replaces the image's Entrypoint and drops its Cmd; ``args``
  replaces Cmd.
* The process runs on the host, in its own copy of the image's files: an absolute path in
  the command line that names a file of the image is rewritten into that copy, the program
  is looked up on the image's ``PATH`` inside the copy, then among the host tools the
  sandbox lends (its Python, ``hey``), and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from flux_devkit.sandbox import quantity
from flux_devkit.sandbox.kubelet.images import ImageConfig

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_FIELD_KEY = re.compile(r"metadata\.(labels|annotations)\['([^']*)'\]")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")

Lookup = Callable[
    [str, str], dict[str, Any] | None
]  # (plural, name) -> ConfigMap/Secret in the pod's namespace


class ContainerConfigError(Exception):
    """The container cannot be created yet (``CreateContainerConfigError``): a missing ConfigMap, key …"""


class StartError(Exception):
    """The program cannot be started (``StartError``, exit code 128): not found in the image or the tools."""


@dataclass(frozen=True)
class Launch:
    """What to run: ``argv`` with its program resolved, ``env`` and ``cwd`` on the host."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known names are replaced, unknown ones stay, ``$$`` is ``$``."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _REFERENCE.sub(one, text)


def service_links(services: list[dict[str, Any]]) -> dict[str, str]:
    """``<NAME>_SERVICE_HOST``/``_PORT`` and the Docker-link variables of every Service with an address."""
    env: dict[str, str] = {}
    for service in services:
        spec = service.get("spec") or {}
        ip, ports = spec.get("clusterIP"), spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        prefix = service["metadata"]["name"].upper().replace("-", "_")
        first = ports[0]
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(first.get("port"))
        env[f"{prefix}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{ip}:{first.get('port')}"
        for port in ports:
            protocol, number = port.get("protocol", "TCP"), port.get("port")
            if port.get("name"):
                env[f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(number)
            base = f"{prefix}_PORT_{number}_{protocol}"
            env[base] = f"{protocol.lower()}://{ip}:{number}"
            env[f"{base}_PROTO"] = protocol.lower()
            env[f"{base}_PORT"] = str(number)
            env[f"{base}_ADDR"] = ip
    return env


class ContainerEnvironment:
    """Builds the :class:`Launch` of one container of one Pod."""

    def __init__(self, pod: dict[str, Any], pod_ip: str, lookup: Lookup) -> None:
        self.pod = pod
        self.pod_ip = pod_ip
        self.lookup = lookup
        self.namespace = pod["metadata"]["namespace"]

    # -- environment ----------------------------------------------------------------------------
    def variables(
        self, container: dict[str, Any], base: dict[str, str], warnings: list[str]
    ) -> dict[str, str]:
        """``base`` (service links, mesh settings) overlaid with ``envFrom`` then ``env``."""
        env = dict(base)
        for source in container.get("envFrom") or []:
            env.update(self._env_from(source, warnings))
        for item in container.get("env") or []:
            name = item.get("name", "")
            if "valueFrom" in item:
                value = self._value_from(name, item["valueFrom"], container)
                if value is None:
                    continue
                env[name] = value
            else:
                env[name] = expand(str(item.get("value", "")), env)
        return env

    def _source(self, plural: str, name: str, optional: bool) -> dict[str, str] | None:
        kind = "configmap" if plural == "configmaps" else "secret"
        obj = self.lookup(plural, name)
        if obj is None:
            if optional:
                return None
            raise ContainerConfigError(f'{kind} "{name}" not found')
        data = dict(obj.get("data") or {})
        if plural == "secrets":
            try:
                return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in data.items()}
            except (binascii.Error, TypeError):
                raise ContainerConfigError(f'secret "{name}" holds a value that is not base64') from None
        return {k: str(v) for k, v in data.items()}

    def _env_from(self, source: dict[str, Any], warnings: list[str]) -> dict[str, str]:
        for key, plural in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
            ref = source.get(key)
            if ref is None:
                continue
            data = self._source(plural, ref.get("name", ""), bool(ref.get("optional")))
            prefix = source.get("prefix", "")
            found = {}
            for name, value in (data or {}).items():
                if _ENV_NAME.fullmatch(prefix + name):
                    found[prefix + name] = value
                else:
                    warnings.append(f"Keys [{name}] from the EnvFrom {key} were skipped: not a valid name")
            return found
        return {}

    def _value_from(self, name: str, source: dict[str, Any], container: dict[str, Any]) -> str | None:
        for key, plural, kind in (
            ("configMapKeyRef", "configmaps", "ConfigMap"),
            ("secretKeyRef", "secrets", "Secret"),
        ):
            ref = source.get(key)
            if ref is None:
                continue
            optional = bool(ref.get("optional"))
            data = self._source(plural, ref.get("name", ""), optional)
            if data is None:
                return None
            if ref.get("key") not in data:
                if optional:
                    return None
                raise ContainerConfigError(
                    f"couldn't find key {ref.get('key')} in {kind} {self.namespace}/{ref.get('name')}"
                )
            return data[ref["key"]]
        if "fieldRef" in source:
            return self._field(source["fieldRef"].get("fieldPath", ""), name)
        if "resourceFieldRef" in source:
            return self._resource(source["resourceFieldRef"], container, name)
        raise ContainerConfigError(f"env {name}: valueFrom names no source the sandbox knows")

    def _field(self, path: str, name: str) -> str:
        meta, spec = self.pod["metadata"], self.pod.get("spec") or {}
        fields = {
            "metadata.name": meta.get("name", ""),
            "metadata.namespace": self.namespace,
            "metadata.uid": meta.get("uid", ""),
            "spec.nodeName": spec.get("nodeName") or "sandbox",
            "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
            "status.hostIP": "127.0.0.1",
            "status.hostIPs": "127.0.0.1",
            "status.podIP": self.pod_ip,
            "status.podIPs": self.pod_ip,
        }
        if path in fields:
            return str(fields[path])
        if match := _FIELD_KEY.fullmatch(path):
            return str((meta.get(match[1]) or {}).get(match[2], ""))
        raise ContainerConfigError(f"env {name}: fieldRef {path!r} is not supported")

    def _resource(self, ref: dict[str, Any], container: dict[str, Any], name: str) -> str:
        resource = ref.get("resource", "")
        section, _, kind = resource.partition(".")
        if section not in ("limits", "requests") or kind not in ("cpu", "memory", "ephemeral-storage"):
            raise ContainerConfigError(f"env {name}: resourceFieldRef {resource!r} is not supported")
        given = ((container.get("resources") or {}).get(section) or {}).get(kind)
        node = {
            "cpu": str(os.cpu_count() or 1),
            "memory": str(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")),
            "ephemeral-storage": "0",
        }
        try:
            value = quantity.nanos(given if given is not None else node[kind])
            divisor = quantity.nanos(ref.get("divisor") or "1")
        except quantity.QuantityError as err:
            raise ContainerConfigError(f"env {name}: resourceFieldRef {resource}: {err}") from None
        return str(math.ceil(value / divisor)) if divisor else "0"

    # -- command line ---------------------------------------------------------------------------
    def launch(
        self,
        container: dict[str, Any],
        image: ImageConfig,
        rootfs: Path,
        tools: Path,
        env: dict[str, str],
    ) -> Launch:
        """The program and its arguments in ``rootfs`` (this container's copy), its env and folder."""
        full = {**dict(image.env), **env}
        if container.get("command"):
            argv = [expand(str(a), env) for a in container["command"]]
            argv += [expand(str(a), env) for a in container.get("args") or []]
        else:
            argv = list(image.entrypoint)
            argv += [expand(str(a), env) for a in container["args"]] if container.get("args") else image.cmd
        if not argv:
            raise StartError(
                "no command specified: the image has no Entrypoint or Cmd and the container no command"
            )
        workdir = container.get("workingDir") or image.working_dir or "/"
        cwd = _inside(rootfs, workdir)
        cwd.mkdir(parents=True, exist_ok=True)
        search = [_inside(rootfs, p) for p in full.get("PATH", DEFAULT_PATH).split(":") if p.startswith("/")]
        program = self._program(argv[0], rootfs, workdir, [*search, tools])
        args = [str(_inside(rootfs, a)) if _names_file(rootfs, a) else a for a in argv[1:]]
        full["PATH"] = ":".join(str(d) for d in [*search, tools] if d.is_dir())
        return Launch([str(program), *args], full, cwd)

    @staticmethod
    def _program(name: str, rootfs: Path, workdir: str, search: list[Path]) -> Path:
        if "/" in name:
            found = _inside(rootfs, str(PurePosixPath("/", workdir, name)))
            if not found.is_file():
                raise StartError(f'exec: "{name}": stat {name}: no such file or directory')
            if not os.access(found, os.X_OK):
                raise StartError(f'exec: "{name}": permission denied')
            return found
        for folder in search:
            candidate = folder / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        raise StartError(f'exec: "{name}": executable file not found in $PATH')


def _inside(rootfs: Path, path: str) -> Path:
    """``path`` of the container's file system as a host path in ``rootfs`` ('..' stops at its root)."""
    return rootfs.joinpath(*PurePosixPath(posixpath.normpath("/" + path.lstrip("/"))).parts[1:])


def _names_file(rootfs: Path, arg: str) -> bool:
    """Whether an argument is an absolute path of a file or folder the image holds."""
    if not arg.startswith("/") or len(arg) > 4096:
        return False
    return os.path.lexists(_inside(rootfs, arg))
