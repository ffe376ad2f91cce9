"""Where postBuild variables come from, and in which order they override each other.

Lowest to highest precedence:

1. ``spec.postBuild.substituteFrom`` ConfigMaps/Secrets, in list order (Flux);
2. Airflow-native values, merged by the operator: the Airflow Variables it is told to read,
   then DAG params, then the "Trigger DAG w/ config" values, then its ``variables=``;
3. ``spec.postBuild.substitute`` (Flux: inline values win).

Inline values are themselves expanded against 1 and 2 first, so a spec can say
``EXPERIMENT_ID: "${EXPERIMENT_ID:-default}"`` and take the value from the trigger form,
falling back to its default: the seed's training pipeline relies on this.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any, Protocol

from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.kustomize import envsubst
from airflow_flux_provider.kustomize.errors import EnvsubstError, SubstitutionError
from airflow_flux_provider.specs.kustomization import PostBuild

#: Flux's variable-name rule (``^[_[:alpha:]][_[:alpha:][:digit:]]*$``).
VAR_NAME = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
VAR_NAME_RULE = "^[_[:alpha:]][_[:alpha:][:digit:]]*$"


class ObjectReader(Protocol):
    """Reads one object from the cluster; ``None`` when it does not exist."""

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None: ...


class ClusterReader:
    """An :class:`ObjectReader` over the provider's Kubernetes client (``kube.Cluster``)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.cluster.get(ObjectKey(api_version, kind, namespace, name))


def _clean(values: Mapping[str, str]) -> dict[str, str]:
    """Flux strips every newline from values (multi-line values collapse)."""
    return {name: value.replace("\n", "") for name, value in values.items()}


def from_cluster(
    post_build: PostBuild, reader: ObjectReader | None, *, namespace: str, obj: str
) -> dict[str, str]:
    """The ``substituteFrom`` variables, later references overriding earlier ones."""
    variables: dict[str, str] = {}
    for ref in post_build.substitute_from:
        where = f"{ref.kind}/{ref.name}"
        if reader is None and ref.optional:
            continue
        if reader is None:
            raise SubstitutionError(
                f"substitute from '{where}' needs a cluster connection; give the operator a Kubernetes "
                "connection (kubernetes_conn_id) or remove substituteFrom",
                obj=obj,
                field="spec.postBuild.substituteFrom",
            )
        found = reader.get("v1", ref.kind, namespace, ref.name)
        if found is None:
            if ref.optional:
                continue
            raise SubstitutionError(
                f"substitute from '{where}' error: {ref.kind} {namespace}/{ref.name} not found; create it or "
                "mark the reference optional: true",
                obj=obj,
                field="spec.postBuild.substituteFrom",
            )
        data = found.get("data") or {}
        if ref.kind == "Secret":
            data = {key: _decode(value, where, key, obj) for key, value in data.items()}
        variables.update(_clean({str(k): str(v) for k, v in data.items()}))
    return variables


def _decode(value: Any, where: str, key: str, obj: str) -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise SubstitutionError(
            f"substitute from '{where}' error: key {key!r} is not base64-encoded UTF-8 text",
            obj=obj,
            field="spec.postBuild.substituteFrom",
        ) from None


def airflow_values(values: Mapping[str, Any]) -> dict[str, str]:
    """Scalar values with valid variable names, as text (other params are not variables)."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not VAR_NAME.match(name) or value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            out[name] = str(value)
    return out


def collect(
    post_build: PostBuild,
    *,
    cluster: Mapping[str, str],
    airflow: Mapping[str, str],
    obj: str,
) -> dict[str, str]:
    """All variables in precedence order; inline ``substitute`` values expanded against the rest."""
    variables = _clean({**cluster, **airflow})
    for name, template in post_build.substitute.items():
        try:
            value, _missing = envsubst.substitute(template, variables)
        except EnvsubstError as err:
            raise SubstitutionError(
                f"value of {name} is not valid substitution syntax: {err}; escape a literal $ as $$",
                obj=obj,
                field="spec.postBuild.substitute",
            ) from None
        variables[name] = value.replace("\n", "")
    for name in variables:
        if not VAR_NAME.match(name):
            raise SubstitutionError(
                f"'{name}' var name is invalid, must match '{VAR_NAME_RULE}'; rename the key",
                obj=obj,
                field="spec.postBuild",
            )
    return variables
