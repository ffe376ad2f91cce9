"""Patch and server-side apply semantics of the Kubernetes API server, for the sandbox."""

from flux_devkit.sandbox.merge.apply import record_update, server_side_apply
from flux_devkit.sandbox.merge.errors import ApplyConflict, MergeError
from flux_devkit.sandbox.merge.patches import json_patch, merge_patch, strategic_merge_patch
from flux_devkit.sandbox.merge.schema import TypeSchema, schema_for, schema_from_crd

__all__ = [
    "ApplyConflict",
    "MergeError",
    "TypeSchema",
    "json_patch",
    "merge_patch",
    "record_update",
    "schema_for",
    "schema_from_crd",
    "server_side_apply",
    "strategic_merge_patch",
]
