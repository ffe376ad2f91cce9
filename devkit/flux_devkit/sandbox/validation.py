"""Checks the API server makes before storing: object names and immutable fields (422 Invalid)."""

from __future__ import annotations

import json
import re
from typing import Any

from flux_devkit.sandbox.resources import ResourceType
from flux_devkit.sandbox.status import ApiError, invalid

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# kinds whose names are DNS-1123 labels rather than subdomains
_LABEL_NAMED = {("", "Namespace"), ("", "Service")}
# kinds whose names may be any path segment (RBAC allows "system:controller:x")
_PATH_NAMED = {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}

SUBDOMAIN_HELP = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
    "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_HELP = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


def name_problem(rt: ResourceType, name: str) -> str | None:
    """Why ``name`` is not a valid name for ``rt`` (worded like the API server), or None."""
    if rt.kind in _PATH_NAMED:
        if name in (".", "..") or "/" in name or "%" in name:
            return f"Invalid value: \"{name}\": may not contain '/' or '%'"
        return None
    if (rt.group, rt.kind) in _LABEL_NAMED:
        if len(name) > 63:
            return f'Invalid value: "{name}": must be no more than 63 characters'
        if not _LABEL.match(name):
            return f'Invalid value: "{name}": {LABEL_HELP}'
        return None
    if len(name) > 253:
        return f'Invalid value: "{name}": must be no more than 253 characters'
    if not _SUBDOMAIN.match(name):
        return f'Invalid value: "{name}": {SUBDOMAIN_HELP}'
    return None


def check_name(rt: ResourceType, name: str) -> None:
    problem = name_problem(rt, name)
    if problem:
        raise invalid(rt.qualified_kind, rt.group, rt.kind, name, [("metadata.name", problem)])


_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_VALUE_HELP = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
    "used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
QUALIFIED_NAME_HELP = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def _key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return f"prefix part {SUBDOMAIN_HELP}"
    if not name or len(name) > 63 or not _LABEL_VALUE.match(name):
        return QUALIFIED_NAME_HELP
    return None


def check_labels(rt: ResourceType, obj: dict[str, Any]) -> None:
    """422 for label keys/values or annotation keys the API server would refuse."""
    meta = obj["metadata"]
    causes: list[tuple[str, str]] = []
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    if not isinstance(labels, dict) or not isinstance(annotations, dict):
        raise invalid(
            rt.qualified_kind,
            rt.group,
            rt.kind,
            meta.get("name", ""),
            [("metadata.labels", "Invalid value: must be a map of strings")],
        )
    for key, value in labels.items():
        problem = _key_problem(key)
        if problem:
            causes.append(("metadata.labels", f'Invalid value: "{key}": {problem}'))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            shown = value if isinstance(value, str) else json.dumps(value)
            causes.append(("metadata.labels", f'Invalid value: "{shown}": {LABEL_VALUE_HELP}'))
    for key, value in annotations.items():
        problem = _key_problem(key)
        if problem:
            causes.append(("metadata.annotations", f'Invalid value: "{key}": {problem}'))
        if not isinstance(value, str):
            causes.append(("metadata.annotations", f"Invalid value: {json.dumps(value)}: must be a string"))
    if causes:
        raise invalid(rt.qualified_kind, rt.group, rt.kind, meta.get("name", ""), causes)


def _path(obj: dict[str, Any], dotted: str) -> Any:
    node: Any = obj
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


_IMMUTABLE: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "Deployment"): ("spec.selector",),
    ("apps", "ReplicaSet"): ("spec.selector",),
    ("apps", "StatefulSet"): ("spec.selector", "spec.serviceName", "spec.volumeClaimTemplates"),
    ("apps", "DaemonSet"): ("spec.selector",),
    ("batch", "Job"): ("spec.selector", "spec.template", "spec.completions"),
    ("", "PersistentVolumeClaim"): ("spec.storageClassName", "spec.accessModes", "spec.volumeName"),
    ("rbac.authorization.k8s.io", "RoleBinding"): ("roleRef",),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): ("roleRef",),
}


def check_update(rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
    """422 when an update changes a field the API server treats as immutable."""
    name = new["metadata"]["name"]
    causes: list[tuple[str, str]] = []
    for dotted in _IMMUTABLE.get((rt.group, rt.kind), ()):
        before, after = _path(old, dotted), _path(new, dotted)
        if before != after and not (dotted == "spec.template" and _job_template_equal(before, after)):
            causes.append((dotted, f"Invalid value: {_short(after)}: field is immutable"))
    if rt.group == "" and rt.kind == "Service":
        before = _path(old, "spec.clusterIP")
        after = _path(new, "spec.clusterIP")
        if after not in (None, "", before):
            causes.append(("spec.clusterIP", f'Invalid value: "{after}": field is immutable'))
    if rt.group == "" and rt.kind in ("ConfigMap", "Secret") and old.get("immutable"):
        for fld in ("data", "binaryData", "stringData"):
            if old.get(fld) != new.get(fld):
                causes.append((fld, "Forbidden: field is immutable when `immutable` is set"))
        if not new.get("immutable"):
            causes.append(("immutable", "Forbidden: field is immutable when `immutable` is set"))
    if causes:
        raise invalid(rt.qualified_kind, rt.group, rt.kind, name, causes)


def _job_template_equal(before: Any, after: Any) -> bool:
    """Jobs may only change the template's labels/annotations the controller adds; compare the rest."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return before == after
    return before.get("spec") == after.get("spec")


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= 120 else text[:117] + "..."


def invalid_missing_name(rt: ResourceType) -> ApiError:
    return invalid(
        rt.qualified_kind,
        rt.group,
        rt.kind,
        "",
        [("metadata.name", "Required value: name or generateName is required")],
    )
