"""Flux ``target`` selectors: Kubernetes label selector syntax and anchored patterns, as fluxcd/pkg."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_flux_provider.helm.errors import DriftError
from airflow_flux_provider.kube.selectors import LabelSelector, ObjectSelector
from airflow_flux_provider.specs.refs import Selector

LABELS = {"app": "web", "tier": "front", "release": "12", "empty": ""}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app = web , tier=front", True),
        ("app=db", False),
        ("app!=db", True),
        ("missing!=x", True),  # absent keys satisfy !=
        ("app", True),
        ("!app", False),
        ("!missing", True),
        ("tier in (front, back)", True),
        ("tier notin (front)", False),
        ("missing notin (x)", True),
        ("missing in (x)", False),
        ("empty=", True),  # an empty value is a value
        ("empty in ()", True),
        ("release>11", True),
        ("release<12", False),
        ("app>1", False),  # not a number: Gt/Lt never match
        ("example.com/owner", False),
        ("app=web,missing", False),
    ],
)
def test_label_selectors_match_as_kubernetes_does(text: str, matches: bool) -> None:
    selector = LabelSelector.parse(text, obj="X/ns/x", field="target.labelSelector", error=DriftError)
    assert selector.matches(LABELS) is matches


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app in (a", "found end of string, expected ')'"),
        ("app in a", "expected '('"),
        ("app in (a b)", "found 'b', expected ',' or ')'"),
        ("app >", "for '>', the value must be an integer, not ''"),
        ("release > x", "the value must be an integer"),
        ("=web", "found '=', expected a key"),
        ("app=web,", "expected a key"),
        ("app=web tier=x", "found 'tier', expected ','"),
        ("-app=x", "invalid key '-app'"),
        ("Bad_Prefix/app=x", "the prefix must be a DNS subdomain"),
        ("app=" + "v" * 64, "invalid value"),
        ("a" * 64, "invalid key"),
        ("a=b," * 2000, "longer than 4096 characters"),
        ("(" * 3000, "expected a key"),
        ("app ~ x", "found '~', expected one of"),
    ],
)
def test_malformed_selectors_name_the_field_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(DriftError) as err:
        LabelSelector.parse(text, obj="X/ns/x", field="target.labelSelector", error=DriftError)
    assert str(err.value).startswith("X/ns/x field target.labelSelector: ")
    assert message in str(err.value)


DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web-1",
        "namespace": "prod",
        "labels": {"app": "web"},
        "annotations": {"team": "a"},
    },
}


@pytest.mark.parametrize(
    ("target", "matches"),
    [
        ({}, True),
        ({"group": "apps", "version": "v1", "kind": "Deployment"}, True),
        ({"group": "app"}, False),  # anchored at both ends
        ({"group": ""}, True),  # empty means any
        ({"version": "v1.*"}, True),
        ({"kind": "deployment"}, False),  # case-sensitive
        ({"name": "web-[0-9]+"}, True),
        ({"name": "web|api"}, False),  # anchoring wraps alternations: ^(?:web|api)$
        ({"namespace": "prod|staging"}, True),
        ({"labelSelector": "app in (web,api)"}, True),
        ({"annotationSelector": "team=b"}, False),
    ],
)
def test_object_selectors_match_every_part_of_the_target(target: dict[str, str], matches: bool) -> None:
    compiled = ObjectSelector.compile(
        Selector.model_validate(target), obj="HelmRelease/ns/x", field="target", error=DriftError
    )
    assert compiled.matches(DEPLOYMENT) is matches


def test_target_patterns_are_go_syntax_and_linear() -> None:
    """RE2: POSIX classes work, and a pattern that backtracks exponentially in Python's re does not."""
    digits = ObjectSelector.compile(
        Selector(name="web-[[:digit:]]+"), obj="HelmRelease/ns/x", field="target", error=DriftError
    )
    assert digits.matches(DEPLOYMENT)
    nested = ObjectSelector.compile(
        Selector(name="(a+)+b"), obj="HelmRelease/ns/x", field="target", error=DriftError
    )
    long_name = {**DEPLOYMENT, "metadata": {**DEPLOYMENT["metadata"], "name": "a" * 253}}
    assert not nested.matches(long_name)  # Python's re takes longer than the age of the universe here
