"""Where postBuild variables come from, and the level at which each kind of value is used.

Build level (Flux's post-build substitution), lowest to highest precedence:

1. ``spec.postBuild.substituteFrom`` ConfigMaps/Secrets, in list order (Flux);
2. Airflow-native values, merged by the operator: the Airflow Variables it is told to read,
   then DAG params, then the "Trigger DAG w/ config" values, then its ``variables=``;
3. ``spec.postBuild.substitute`` (Flux: inline values win).

Every value is inserted as written: ``pa$$word``, ``echo ${HOME}`` and ``a${`` reach the
manifests unchanged, as in Flux.

Parent level: ``${VAR}`` placeholders in a Flux object itself (the seed's
``EXPERIMENT_ID: "${EXPERIMENT_ID:-default}"``) are filled once, before the object is used,
the way a substituting parent Kustomization fills them when it applies its children. The
DAG factory does this from trigger conf, DAG params and Airflow Variables; the CLIs with
:func:`fill_placeholders` from ``--var``.
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
    """All build variables in precedence order, every value as written (Flux never expands them)."""
    variables = _clean({**cluster, **airflow, **post_build.substitute})
    for name in variables:
        if not VAR_NAME.match(name):
            raise SubstitutionError(
                f"'{name}' var name is invalid, must match '{VAR_NAME_RULE}'; rename the key",
                obj=obj,
                field="spec.postBuild",
            )
    return variables


def fill_placeholders(
    manifest: Mapping[str, Any], values: Mapping[str, str], *, obj: str, source: str, strict: bool = True
) -> dict[str, Any]:
    """``manifest`` with the ``${VAR}`` placeholders of its strings filled from ``values``.

    This is the parent level: every string value goes through envsubst once and stays a
    string (``"${N:-3}"`` gives ``"3"``, as the quoted text Flux substitutes would);
    ``$${VAR}`` keeps a literal ``${VAR}`` for the build level. ``source`` says where values
    come from, for the error naming unset placeholders.
    """
    missing: list[str] = []

    def fill(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: fill(item) for key, item in value.items()}
        if isinstance(value, list):
            return [fill(item) for item in value]
        if not isinstance(value, str) or "$" not in value:
            return value
        try:
            text, unset = envsubst.substitute(value, values, strict=strict)
        except EnvsubstError as err:
            raise SubstitutionError(f"placeholder syntax: {err}; escape a literal $ as $$", obj=obj) from None
        missing.extend(name for name in unset if name not in missing)
        return text

    filled = fill(manifest)
    if missing:
        names = ", ".join(f"${{{name}}}" for name in missing)
        which = f"placeholder {names} has" if len(missing) == 1 else f"placeholders {names} have"
        raise SubstitutionError(
            f"{which} no value; set it with {source} or give a default like ${{VAR:-value}}", obj=obj
        )
    return dict(filled)
