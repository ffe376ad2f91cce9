"""A routed resource request (:class:`Call`), body decoding and the media types the verbs accept."""

from __future__ import annotations

import builtins
import datetime
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from flux_devkit.sandbox import protobuf
from flux_devkit.sandbox.resources import ResourceType
from flux_devkit.sandbox.status import ApiError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
CRD_GROUP = "apiextensions.k8s.io"
STALE = "the object has been modified; please apply your changes to the latest version and try again"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Call:
    """One resource request after routing: which type, where, which subresource, which options."""

    rt: ResourceType
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    query: dict[str, str] = field(default_factory=dict)
    manager: str = "unknown"
    warnings: builtins.list[str] = field(default_factory=list)  # sent back as Warning headers

    def flag(self, key: str) -> bool:
        """A boolean query parameter, parsed like Go's strconv.ParseBool (clients send true/True/1)."""
        return self.query.get(key, "").lower() in ("1", "t", "true")

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"

    def where(self) -> str:
        return (
            f"{self.rt.kind}/{self.namespace}/{self.name}"
            if self.namespace
            else f"{self.rt.kind}/{self.name}"
        )


def decode_body(raw: bytes, content_type: str = "application/json") -> Any:
    """Parse a JSON or YAML request body; 400 with the parser's position (never a traceback) if malformed."""
    if "protobuf" in content_type:
        return protobuf.decode(raw)
    if "cbor" in content_type:
        raise ApiError(
            415,
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )
    if not raw.strip():
        raise bad_request("the request body is empty; send the object as JSON")
    try:
        if "yaml" in content_type:
            return yaml.load(raw, Loader=_YAML_LOADER)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as err:
        kind = "YAML" if "yaml" in content_type else "JSON"
        raise bad_request(f"the body of the request could not be decoded as {kind}: {err}") from None
