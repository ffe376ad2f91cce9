"""What ``flux build kustomization`` prints for a render, byte for byte.

The flux CLI adds the owner labels the reconcile would set, masks the values of
SOPS-encrypted Secrets with ``**SOPS**`` (it never decrypts), and prints each object as
``sigs.k8s.io/yaml`` marshals it: keys sorted, Go ``yaml.v2`` scalar styles (strings that
would read as another type in double quotes, multi-line strings as literal blocks, no line
wrapping), every document followed by ``---``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import yaml

from airflow_flux_provider.kustomize.errors import KustomizeError

OWNER_NAME = "kustomize.toolkit.fluxcd.io/name"
OWNER_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
SOPS_MASK = "**SOPS**"
_MASK_B64 = base64.b64encode(SOPS_MASK.encode()).decode()
_DOCKERCONFIG_MASK = json.dumps({"mask": SOPS_MASK}, separators=(",", ":"))
_DOCKERCONFIG = "kubernetes.io/dockerconfigjson"

# yaml.v2's resolve(): plain scalars that read as something other than a string.
_NOT_STRINGS = frozenset(
    {
        *("y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"),
        *("n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE"),
        *("~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", "<<"),
        *(sign + inf for sign in ("", "+", "-") for inf in (".inf", ".Inf", ".INF")),
    }
)
_GO_INT = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[oO]?[0-7]+|0[bB][01]+|[0-9]+)")
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_GO_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")
_BASE60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}"
    r"(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?"
)


def _reads_as_string(text: str) -> bool:
    """Whether Go's yaml.v2 resolves the plain scalar ``text`` to a string."""
    if text == "" or text in _NOT_STRINGS:
        return False
    first = text[0]
    if first == ".":
        return not _GO_DOT_FLOAT.fullmatch(text)
    if first in "+-0123456789":
        plain = text.replace("_", "")
        return not (
            _GO_INT.fullmatch(plain)
            or _GO_FLOAT.fullmatch(plain)
            or _BASE60_FLOAT.fullmatch(text)
            or (first.isdigit() and _TIMESTAMP.fullmatch(text))
        )
    return True


def go_float(value: float) -> str:
    """A JSON number as sigs.k8s.io/yaml prints it: whole values as integers, others in Go's %g."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exponent)  # digits before the decimal point
    if point - 1 < -4 or point - 1 >= 6:  # Go's %g with the shortest precision
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        out = f"{mantissa}e{'-' if point - 1 < 0 else '+'}{abs(point - 1):02d}"
    elif point <= 0:
        out = "0." + "0" * -point + text
    else:
        out = text[:point] + "." + text[point:] if point < len(text) else text + "0" * (point - len(text))
    return ("-" if sign else "") + out


class _GoResolver(yaml.resolver.Resolver):
    """Plain scalars resolve as Go's yaml.v2 reads them: strings exactly when Go says so."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            if _reads_as_string(value):
                return self.DEFAULT_SCALAR_TAG
            tag = super().resolve(kind, value, implicit)
            return tag if tag != self.DEFAULT_SCALAR_TAG else "tag:yaml.org,2002:float"
        return super().resolve(kind, value, implicit)


class _GoDumper(
    yaml.emitter.Emitter,
    yaml.serializer.Serializer,
    yaml.representer.SafeRepresenter,
    _GoResolver,
):
    def __init__(self, stream: Any, **kwargs: Any) -> None:
        yaml.emitter.Emitter.__init__(
            self, stream, width=1 << 30, allow_unicode=True, indent=2, line_break=kwargs.get("line_break")
        )
        yaml.serializer.Serializer.__init__(self, explicit_start=False, explicit_end=False)
        yaml.representer.SafeRepresenter.__init__(self, default_flow_style=False, sort_keys=True)
        _GoResolver.__init__(self)


def _represent_str(dumper: Any, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        style = "|"
    elif not _reads_as_string(value):
        style = '"'
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_float(dumper: Any, value: float) -> yaml.ScalarNode:
    text = go_float(value)
    return dumper.represent_scalar(dumper.resolve(yaml.ScalarNode, text, (True, False)), text)


_GoDumper.add_representer(str, _represent_str)
_GoDumper.add_representer(float, _represent_float)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loading with timestamps kept as text (Go decodes them to JSON strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def go_yaml(obj: Any) -> str:
    """``obj`` as sigs.k8s.io/yaml ``Marshal`` writes it."""
    return str(yaml.dump(obj, Dumper=_GoDumper))


def load_objects(text: str) -> list[dict[str, Any]]:
    """The objects of a render, in order."""
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if isinstance(doc, dict)]


def with_owner(obj: dict[str, Any], name: str, namespace: str) -> dict[str, Any]:
    """The labels kustomize-controller sets on everything it applies."""
    metadata = obj.setdefault("metadata", {})
    metadata["labels"] = {**(metadata.get("labels") or {}), OWNER_NAME: name, OWNER_NAMESPACE: namespace}
    return obj


def mask_sops(obj: dict[str, Any]) -> dict[str, Any]:
    """``flux build``'s view of a Secret: encrypted values replaced by ``**SOPS**``, no metadata."""
    if obj.get("kind") != "Secret":
        return obj
    data = {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
    string_data = {str(k): "" if v is None else str(v) for k, v in (obj.get("stringData") or {}).items()}
    if isinstance(obj.get("sops"), Mapping) and "mac: ENC[" in go_yaml(obj["sops"]):
        del obj["sops"]
        if obj.get("type", "Opaque") == _DOCKERCONFIG:
            mask_string = _DOCKERCONFIG_MASK
            mask_data = base64.b64encode(mask_string.encode()).decode()
        else:
            mask_data, mask_string = _MASK_B64, SOPS_MASK
        data = dict.fromkeys(data, mask_data)
        string_data = dict.fromkeys(string_data, mask_string)
    else:
        data = {k: _MASK_B64 if _sops_value(_b64(obj, k, v)) else v for k, v in data.items()}
        string_data = {k: _MASK_B64 if _sops_value(v) else v for k, v in string_data.items()}
    if data:
        obj["data"] = data
    else:
        obj.pop("data", None)
    if string_data:
        obj["stringData"] = string_data
    return obj


def _sops_value(text: str) -> bool:
    return "sops" in text and "ENC[" in text


def _b64(obj: Mapping[str, Any], key: str, value: str) -> str:
    try:
        encoded = value.replace("\n", "").replace("\r", "")  # Go's decoder skips line breaks
        return base64.b64decode(encoded, validate=True).decode("utf-8", errors="replace")
    except binascii.Error:
        name = (obj.get("metadata") or {}).get("name")
        raise KustomizeError(
            f"failed to mask secret {name} sops data: data key {key!r} is not base64; "
            "encode the value or move it to stringData"
        ) from None


def flux_build_output(objects: Iterable[Mapping[str, Any]]) -> str:
    """Every object as ``sigs.k8s.io/yaml`` marshals it, each followed by ``---``."""
    return "".join(go_yaml(dict(obj)) + "---\n" for obj in objects)
