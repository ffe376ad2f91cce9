"""Decode the Kubernetes protobuf request bodies that typed Go clients send for a few core kinds.

client-go's typed clientsets (helm's release storage, ``kubectl create secret``) send
``application/vnd.kubernetes.protobuf`` bodies and do not fall back to JSON. The sandbox
answers in JSON (which those clients accept) but must read these bodies: this decodes the
protobuf envelope and the messages of Secret, ConfigMap, Namespace, ServiceAccount and
DeleteOptions (and SelfSubjectAccessReview) into the same dicts their JSON would give. Other kinds get 415.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from typing import Any

from flux_devkit.sandbox.status import ApiError

MAGIC = b"k8s\x00"
Fields = dict[int, list[Any]]  # field number -> raw values (int for varints, bytes for length-delimited)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Fields:
    fields: Fields = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _str(fields: Fields, n: int) -> str | None:
    return fields[n][-1].decode() if n in fields else None


def _int(fields: Fields, n: int) -> int | None:
    if n not in fields:
        return None
    value = int(fields[n][-1])
    return value - (1 << 64) if value >= 1 << 63 else value


def _map(fields: Fields, n: int, *, binary: bool = False) -> dict[str, str] | None:
    if n not in fields:
        return None
    result = {}
    for entry in fields[n]:
        kv = _fields(entry)
        key = _str(kv, 1) or ""
        raw = kv.get(2, [b""])[-1]
        result[key] = base64.b64encode(raw).decode() if binary else raw.decode()
    return result


def _time(fields: Fields, n: int) -> str | None:
    if n not in fields:
        return None
    seconds = _int(_fields(fields[n][-1]), 1) or 0
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _prune(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop unset and empty values, as Go's ``omitempty`` does in the JSON form."""
    return {k: v for k, v in obj.items() if (v is not None and v != "" and v != 0) or v is False}


def _owner(data: bytes) -> dict[str, Any]:
    f = _fields(data)
    return _prune(
        {
            "apiVersion": _str(f, 5),
            "kind": _str(f, 1),
            "name": _str(f, 3),
            "uid": _str(f, 4),
            "controller": bool(_int(f, 6)) if 6 in f else None,
            "blockOwnerDeletion": bool(_int(f, 7)) if 7 in f else None,
        }
    )


def _metadata(data: bytes) -> dict[str, Any]:
    f = _fields(data)
    return _prune(
        {
            "name": _str(f, 1),
            "generateName": _str(f, 2),
            "namespace": _str(f, 3),
            "uid": _str(f, 5),
            "resourceVersion": _str(f, 6),
            "generation": _int(f, 7),
            "creationTimestamp": _time(f, 8),
            "labels": _map(f, 11),
            "annotations": _map(f, 12),
            "ownerReferences": [_owner(o) for o in f[13]] if 13 in f else None,
            "finalizers": [v.decode() for v in f[14]] if 14 in f else None,
        }
    )


def _with_meta(f: Fields, body: dict[str, Any]) -> dict[str, Any]:
    return _prune({"metadata": _metadata(f[1][-1]) if 1 in f else {}, **body})


def _secret(f: Fields) -> dict[str, Any]:
    return _with_meta(
        f,
        {
            "data": _map(f, 2, binary=True),
            "type": _str(f, 3),
            "stringData": _map(f, 4),
            "immutable": bool(_int(f, 5)) if 5 in f else None,
        },
    )


def _configmap(f: Fields) -> dict[str, Any]:
    return _with_meta(
        f,
        {
            "data": _map(f, 2),
            "binaryData": _map(f, 3, binary=True),
            "immutable": bool(_int(f, 4)) if 4 in f else None,
        },
    )


def _delete_options(f: Fields) -> dict[str, Any]:
    pre = _fields(f[2][-1]) if 2 in f else None
    return _prune(
        {
            "gracePeriodSeconds": _int(f, 1),
            "preconditions": _prune({"uid": _str(pre, 1), "resourceVersion": _str(pre, 2)}) if pre else None,
            "propagationPolicy": _str(f, 4),
            "dryRun": [v.decode() for v in f[5]] if 5 in f else None,
        }
    )


def _self_access_review(f: Fields) -> dict[str, Any]:
    spec = _fields(f[2][-1]) if 2 in f else {}
    spec_out: dict[str, Any] = {}
    if 1 in spec:
        a = _fields(spec[1][-1])
        names = ("namespace", "verb", "group", "version", "resource", "subresource", "name")
        spec_out["resourceAttributes"] = _prune({key: _str(a, i + 1) for i, key in enumerate(names)})
    if 2 in spec:
        a = _fields(spec[2][-1])
        spec_out["nonResourceAttributes"] = _prune({"path": _str(a, 1), "verb": _str(a, 2)})
    return _with_meta(f, {"spec": spec_out})


_DECODERS: dict[str, Callable[[Fields], dict[str, Any]]] = {
    "Secret": _secret,
    "ConfigMap": _configmap,
    "Namespace": lambda f: _with_meta(f, {}),
    "ServiceAccount": lambda f: _with_meta(f, {}),
    "DeleteOptions": _delete_options,
    "SelfSubjectAccessReview": _self_access_review,
}


def decode(raw: bytes) -> dict[str, Any]:
    """The JSON-shaped dict for a protobuf body; 415 for kinds the sandbox cannot read as protobuf."""
    if not raw.startswith(MAGIC):
        raise ApiError(400, "the protobuf body does not start with the Kubernetes envelope magic")
    try:
        envelope = _fields(raw[len(MAGIC) :])
        type_meta = _fields(envelope[1][-1]) if 1 in envelope else {}
        api_version, kind = _str(type_meta, 1) or "", _str(type_meta, 2) or ""
        decoder = _DECODERS.get(kind)
        if decoder is None:
            raise ApiError(
                415,
                f"the sandbox reads protobuf bodies only for {', '.join(sorted(_DECODERS))}, not {kind}; "
                "send application/json",
            )
        obj = decoder(_fields(envelope[2][-1]) if 2 in envelope else {})
    except (ValueError, UnicodeDecodeError, IndexError) as err:
        raise ApiError(400, f"the protobuf body could not be decoded: {err}") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
