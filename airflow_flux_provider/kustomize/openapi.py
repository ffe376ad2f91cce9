"""``openapi.path`` schemas merged onto the built-in Kubernetes schema, as Flux builds them.

kustomize replaces its built-in Kubernetes schema with a kustomization's custom
``openapi.path`` schema, so strategic merge patches on built-in kinds lose their merge keys
(a DaemonSet patch drops the container ``image``). Flux preloads the built-in schema and
adds the custom definitions to it. Here the custom file is rewritten, in the build's own
copy of the source, as the built-in definitions plus the custom ones (custom ones win).

``builtin_openapi.json.gz`` holds the Kubernetes API definitions (v1.37) reduced to what
merging needs (types, references, group-version-kinds, patch strategies and merge keys);
``scripts/builtin_openapi.py`` regenerates it from a Kubernetes schema.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from airflow_flux_provider.kustomize.errors import KustomizeError

MAX_SCHEMA_BYTES = 32 << 20


@functools.cache
def _builtin_definitions() -> dict[str, Any]:
    data = resources.files(__package__).joinpath("builtin_openapi.json.gz").read_bytes()
    return dict(json.loads(gzip.decompress(data))["definitions"])


def merge_onto_builtins(schema_file: Path, *, where: str, obj: str) -> None:
    """Rewrite ``schema_file`` (a copy, never the source) as built-in plus custom definitions."""
    if schema_file.is_symlink() or not schema_file.is_file():
        return  # kustomize reports the missing file
    if schema_file.stat().st_size > MAX_SCHEMA_BYTES:
        raise KustomizeError(
            f"{where}: the openapi.path schema is larger than {MAX_SCHEMA_BYTES} bytes", obj=obj
        )
    try:
        custom = yaml.safe_load(schema_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        return  # kustomize reports the malformed schema with its own words
    if not isinstance(custom, dict) or not isinstance(custom.get("definitions", {}), dict):
        return
    merged = {**custom, "definitions": {**_builtin_definitions(), **(custom.get("definitions") or {})}}
    schema_file.unlink()  # a hard link into the source artifact: never write through it
    fd = os.open(schema_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(merged, handle, separators=(",", ":"))
