"""managedFields bookkeeping without a server: the takeover patch and who applies a field."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_flux_provider.kube.takeover import applied_by_others, takeover_patch

ME = "airflow-flux"


def entry(manager: str, operation: str, fields: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"manager": manager, "operation": operation, "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
            "fieldsV1": fields, **extra}  # fmt: skip


def deployment(*entries: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "annotations": annotations or {}, "managedFields": list(entries)},
        "spec": {
            "replicas": 3,
            "template": {"spec": {"containers": [{"name": "app", "image": "a:1", "args": ["--x"]}]}},
        },
    }


CONTAINER = 'k:{"name":"app"}'


def test_kubectl_entries_fold_into_ours_and_the_last_applied_annotation_goes() -> None:
    ours = entry(ME, "Apply", {"f:spec": {"f:template": {}}})
    csa = entry(
        "kubectl-client-side-apply", "Update", {"f:spec": {"f:replicas": {}, "f:template": {"f:x": {}}}}
    )
    status = entry(
        "kubectl-edit", "Update", {"f:status": {}}, subresource="status"
    )  # subresources stay theirs
    other = entry("autoscaler", "Apply", {"f:spec": {"f:replicas": {}}})
    live = deployment(
        ours, csa, status, other, annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    )

    patch = takeover_patch(live, ME)

    assert patch[0] == {
        "op": "remove",
        "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
    }
    (replace,) = patch[1:]
    assert [(e["manager"], e["operation"]) for e in replace["value"]] == [
        ("kubectl-edit", "Update"),
        ("autoscaler", "Apply"),
        (ME, "Apply"),
    ]
    merged = replace["value"][-1]["fieldsV1"]
    # f:template was a field of ours and has fields of kubectl's inside: both kept, the API server's way
    assert merged == {"f:spec": {"f:replicas": {}, "f:template": {".": {}, "f:x": {}}}}


def test_nothing_to_take_over_is_an_empty_patch() -> None:
    assert takeover_patch(deployment(entry(ME, "Apply", {"f:spec": {}})), ME) == []


def test_the_first_matching_entry_becomes_ours_when_we_have_none() -> None:
    created = entry("kubectl-create", "Update", {"f:spec": {"f:replicas": {}}}, time="2024-01-01T00:00:00Z")
    (replace,) = takeover_patch(deployment(created), ME)
    assert replace["value"] == [{**created, "manager": ME, "operation": "Apply"}]


OWNERS = {
    "map field another applier owns": (
        ["spec", "replicas"],
        [entry("hpa", "Apply", {"f:spec": {"f:replicas": {}}})],
        True,
    ),
    "map field only we apply": (
        ["spec", "replicas"],
        [entry(ME, "Apply", {"f:spec": {"f:replicas": {}}})],
        False,
    ),
    "map field an Update manager owns": (
        ["spec", "replicas"],
        [entry("kubectl-scale", "Update", {"f:spec": {"f:replicas": {}}})],
        False,
    ),
    "list item field, item by its key": (
        ["spec", "template", "spec", "containers", "0", "image"],
        [
            entry(
                "vpa",
                "Apply",
                {"f:spec": {"f:template": {"f:spec": {"f:containers": {CONTAINER: {"f:image": {}}}}}}},
            )
        ],
        True,
    ),
    "set member": (
        ["spec", "template", "spec", "containers", "0", "args", "0"],
        [
            entry(
                "vpa",
                "Apply",
                {
                    "f:spec": {
                        "f:template": {"f:spec": {"f:containers": {CONTAINER: {"f:args": {'v:"--x"': {}}}}}}
                    }
                },
            )
        ],
        True,
    ),
    "index past the end": (
        ["spec", "template", "spec", "containers", "3", "image"],
        [entry("vpa", "Apply", {"f:spec": {}})],
        False,
    ),
    "item no entry has a key for": (
        ["spec", "template", "spec", "containers", "0", "image"],
        [
            entry(
                "vpa",
                "Apply",
                {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"other"}': {}}}}}},
            )
        ],
        False,
    ),
}


@pytest.mark.parametrize("pointer,entries,expected", OWNERS.values(), ids=OWNERS)
def test_applied_by_others(pointer: list[str], entries: list[dict[str, Any]], expected: bool) -> None:
    assert applied_by_others(deployment(*entries), tuple(pointer), ME) is expected
