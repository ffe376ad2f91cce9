"""The generated CRDs: one per modelled kind, every apiVersion served, structural schemas, Flux's columns."""

from __future__ import annotations

import pytest

from airflow_flux_provider.specs.crds import flux_crds
from airflow_flux_provider.specs.registry import MODELS
from airflow_flux_provider.specs.status import STATUS_MODELS
from flux_devkit.sandbox import crds as sandbox_crds

CRDS = {crd["spec"]["names"]["kind"]: crd for crd in flux_crds()}


def test_every_modelled_kind_has_a_crd_serving_every_api_version() -> None:
    assert set(CRDS) == {model.__name__ for model in MODELS}
    for model in MODELS:
        versions = CRDS[model.__name__]["spec"]["versions"]
        assert [v["name"] for v in versions] == list(model.api_versions)
        assert [v["name"] for v in versions if v["storage"]] == [model.api_versions[0]]  # the newest
        assert all(v["served"] for v in versions)


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_schemas_are_structural_as_the_api_server_requires(kind: str) -> None:
    sandbox_crds.check_definition(CRDS[kind])  # raises 422 with every problem


def test_status_subresource_where_the_controllers_write_status() -> None:
    for kind, crd in CRDS.items():
        has_status = all("status" in (v.get("subresources") or {}) for v in crd["spec"]["versions"])
        assert has_status == (kind in STATUS_MODELS), kind
    kustomization = CRDS["Kustomization"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    status = kustomization["properties"]["status"]
    assert status["properties"]["inventory"]["properties"]["entries"]["items"]["required"] == ["id", "v"]
    assert "default" not in status["properties"]["lastAppliedRevision"]  # nothing claimed before it is done


def test_spec_schema_carries_the_models_rules() -> None:
    spec = CRDS["Kustomization"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["required"] == ["sourceRef", "interval", "prune"]
    assert spec["properties"]["interval"]["pattern"] == r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
    git = CRDS["GitRepository"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert git["properties"]["timeout"]["pattern"] == r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"  # no hours
    assert "default" not in spec["properties"]["timeout"]  # a Go duration, not pydantic's PT0S
    assert spec["properties"]["deletionPolicy"]["enum"] == [
        "MirrorPrune",
        "Delete",
        "WaitForTermination",
        "Orphan",
    ]
    assert spec["properties"]["postBuild"]["properties"]["substitute"]["additionalProperties"] == {
        "type": "string"
    }
    port = CRDS["Canary"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert port["properties"]["service"]["properties"]["port"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 65535,
    }


def test_older_api_versions_with_renamed_fields_keep_their_spec_as_written() -> None:
    old = next(v for v in CRDS["HelmRelease"]["spec"]["versions"] if v["name"] == "v2beta1")
    spec = old["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["x-kubernetes-preserve-unknown-fields"] is True and "properties" not in spec
    same_shape = next(v for v in CRDS["ImagePolicy"]["spec"]["versions"] if v["name"] == "v1beta2")
    assert "properties" in same_shape["schema"]["openAPIV3Schema"]["properties"]["spec"]


def test_printer_columns_are_fluxs() -> None:
    def columns(kind: str) -> list[str]:
        return [c["name"] for c in CRDS[kind]["spec"]["versions"][0]["additionalPrinterColumns"]]

    assert columns("Kustomization") == ["Age", "Ready", "Status"]
    assert columns("GitRepository") == ["URL", "Age", "Ready", "Status"]
    assert columns("HelmRelease") == ["Age", "Ready", "Status"]
    assert columns("Canary")[:2] == ["Status", "Weight"]
    ready = CRDS["Kustomization"]["spec"]["versions"][0]["additionalPrinterColumns"][1]
    assert ready["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
