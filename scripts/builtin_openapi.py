"""Regenerate airflow_flux_provider/kustomize/builtin_openapi.json.gz from a Kubernetes schema.

    python scripts/builtin_openapi.py <_definitions.json> [Kubernetes version]

The input is a Kubernetes API schema as JSON Schema definitions (``$defs``), e.g. the
``kubernetes-json-schema/v1.37.0-local/_definitions.json`` of the ``kubernetes-validate``
wheel. Only what kustomize needs to merge patches is kept: types, ``$ref``s (as Swagger
``#/definitions/``), group-version-kinds, patch strategies, merge keys and list types.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

KEEP = {
    "$ref", "items", "additionalProperties", "format", "x-kubernetes-patch-merge-key",
    "x-kubernetes-patch-strategy", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
}  # fmt: skip
TARGET = (
    Path(__file__).resolve().parents[1] / "airflow_flux_provider" / "kustomize" / "builtin_openapi.json.gz"
)


def slim(node: Any) -> Any:
    if isinstance(node, list):
        return [slim(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: slim(item) for name, item in value.items()}
        elif key == "x-kubernetes-group-version-kind":
            out[key] = [{part: gvk.get(part) or "" for part in ("group", "version", "kind")} for gvk in value]
        elif key == "type":
            types = [t for t in (value if isinstance(value, list) else [value]) if t != "null"]
            if types:
                out[key] = types[0]
        elif key == "$ref":
            out[key] = value.replace("#/$defs/", "#/definitions/")
        elif key in KEEP:
            out[key] = slim(value)
    return out


def main(source: str, version: str = "v1.37.0") -> None:
    definitions = json.loads(Path(source).read_text())["$defs"]
    schema = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": {},
        "definitions": {name: slim(item) for name, item in definitions.items()},
    }
    data = json.dumps(schema, separators=(",", ":"), sort_keys=True).encode()
    TARGET.write_bytes(gzip.compress(data, 9, mtime=0))


if __name__ == "__main__":
    main(*sys.argv[1:])
