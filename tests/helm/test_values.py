"""Values composition in Flux's order (pkg/chartutil test vectors) and the config digest."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from airflow_flux_provider.helm.errors import ValuesError
from airflow_flux_provider.helm.values import compose_values, set_path, values_digest
from airflow_flux_provider.kube import Cluster
from tests.helm.conftest import helm_release


def _configmap(cluster: Cluster, ns: str, name: str, data: dict[str, str]) -> None:
    cluster.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}
    )


def _secret(cluster: Cluster, ns: str, name: str, data: dict[str, str]) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    cluster.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "data": encoded}
    )


CONFIG_VALUES = "flat: value\nnested:\n  configuration: [one, two, three]\n"


def test_target_path_wins_over_inline_values(sandbox_namespace: str, cluster: Cluster) -> None:
    ns = sandbox_namespace
    _secret(cluster, ns, "values", {"key": "value"})
    _configmap(cluster, ns, "values", {"values.yaml": CONFIG_VALUES})
    hr = helm_release(ns, {
        "valuesFrom": [
            {"kind": "Secret", "name": "values", "valuesKey": "key", "targetPath": "nested.configuration[0]"},
            {"kind": "ConfigMap", "name": "values"},
        ],
        "values": {"nested": {"configuration": ["list", "item", "option"]}},
    })  # fmt: skip
    composed = compose_values(hr, cluster)
    assert composed.values == {"flat": "value", "nested": {"configuration": ["value", "item", "option"]}}
    assert composed.secrets == ["value"]


def test_later_references_and_target_paths_in_order(sandbox_namespace: str, cluster: Cluster) -> None:
    ns = sandbox_namespace
    _configmap(
        cluster,
        ns,
        "values",
        {"values.yaml": "flat: value\nnested:\n  configuration: [list, item, option]\n"},
    )
    _secret(cluster, ns, "values", {"values.yaml": "foo"})
    hr = helm_release(ns, {
        "valuesFrom": [
            {"kind": "ConfigMap", "name": "values"},
            {"kind": "Secret", "name": "values", "targetPath": "nested.configuration[1]"},
        ],
        "values": {"other": "values"},
    })  # fmt: skip
    assert compose_values(hr, cluster).values == {
        "flat": "value", "nested": {"configuration": ["list", "foo", "option"]}, "other": "values",
    }  # fmt: skip


def test_order_values_files_then_refs_then_inline_then_dag(sandbox_namespace: str, cluster: Cluster) -> None:
    ns = sandbox_namespace
    _configmap(cluster, ns, "app", {"values.yaml": "a: from-ref\nb: from-ref\n"})
    hr = helm_release(
        ns, {"valuesFrom": [{"kind": "ConfigMap", "name": "app"}], "values": {"b": "inline", "c": 1}}
    )
    composed = compose_values(
        hr, cluster, values_files=[("values-prod.yaml", "a: file\nz: file\n")], overrides={"c": 2}
    )
    assert composed.values == {"a": "from-ref", "b": "inline", "c": 2, "z": "file"}


def test_optional_and_missing_references(sandbox_namespace: str, cluster: Cluster) -> None:
    ns = sandbox_namespace
    _configmap(cluster, ns, "present", {"other.yaml": "x: 1"})
    optional = helm_release(ns, {"valuesFrom": [
        {"kind": "ConfigMap", "name": "absent", "optional": True},
        {"kind": "ConfigMap", "name": "present", "optional": True},
    ]})  # fmt: skip
    assert compose_values(optional, cluster).values == {}
    missing = helm_release(ns, {"valuesFrom": [{"kind": "Secret", "name": "absent"}]})
    with pytest.raises(
        ValuesError,
        match=rf"HelmRelease/{ns}/web field spec.valuesFrom\[0\]: could not resolve "
        rf"Secret chart values reference '{ns}/absent' with key 'values.yaml': resource not found",
    ):
        compose_values(missing, cluster)
    no_key = helm_release(ns, {"valuesFrom": [{"kind": "ConfigMap", "name": "present"}]})
    with pytest.raises(ValuesError, match=r"valuesKey: .*key not found; keys present: other.yaml"):
        compose_values(no_key, cluster)


def test_bad_yaml_in_a_reference(sandbox_namespace: str, cluster: Cluster) -> None:
    _configmap(cluster, sandbox_namespace, "bad", {"values.yaml": "a: [unclosed"})
    hr = helm_release(sandbox_namespace, {"valuesFrom": [{"kind": "ConfigMap", "name": "bad"}]})
    with pytest.raises(ValuesError, match=r"not valid YAML at line"):
        compose_values(hr, cluster)


@pytest.mark.parametrize(
    ("path", "raw", "expected"),
    [
        ("a.b", "1", {"a": {"b": 1}}),
        ("a.b", "true", {"a": {"b": True}}),
        ("a.b", "'1'", {"a": {"b": "1"}}),
        ("a.b", "007", {"a": {"b": "007"}}),
        ("list[1]", "x", {"list": [None, "x"]}),
        ("a[0].b", "x", {"a": [{"b": "x"}]}),
        (
            r"externalConfig.application\.yml.content",
            "x",
            {"externalConfig": {"application.yml": {"content": "x"}}},
        ),
    ],
)
def test_set_paths(path: str, raw: str, expected: dict[str, Any]) -> None:
    from airflow_flux_provider.helm.values import _typed

    values: dict[str, Any] = {}
    set_path(values, path, _typed(raw))
    assert values == expected


def test_digest_ignores_key_order() -> None:
    assert values_digest({"a": 1, "b": {"c": 2}}) == values_digest({"b": {"c": 2}, "a": 1})
    assert values_digest({"a": 1}) != values_digest({"a": 2})
    assert values_digest({}).startswith("sha256:")
