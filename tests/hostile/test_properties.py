"""Property tests of the parsers that read user text (issue 16): whatever the input, each one
answers with a value or its own error, never another exception, and within a bounded time.

Every example has a deadline (``DEADLINE``): a backtracking or runaway parser fails the test
instead of slowing the suite. Examples are kept small and few so the file runs in seconds.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.setters import set_text
from airflow_flux_provider.kustomize.envsubst import substitute
from airflow_flux_provider.kustomize.errors import EnvsubstError
from airflow_flux_provider.patterns import PatternError, regex
from airflow_flux_provider.semver import Constraint, SemverError, Version
from airflow_flux_provider.specs import SpecError, load_manifests, parse_object
from airflow_flux_provider.specs.duration import DurationError, format_duration, parse_duration

DEADLINE = timedelta(seconds=2)  # per example; generous for a loaded 2-core machine, tiny for a hang
FAST = settings(max_examples=150, deadline=DEADLINE, suppress_health_check=[HealthCheck.too_slow])

_ENV_TEXT = st.text(alphabet="${}:-=+?#%/^,!*[]ab_1 \\\n", max_size=40)


@FAST
@given(text=_ENV_TEXT, value=st.text(max_size=20), strict=st.booleans())
def test_envsubst_answers_or_raises_its_own_error(text: str, value: str, strict: bool) -> None:
    try:
        result, missing = substitute(text, {"a": value, "b_1": "x"}, strict=strict)
    except EnvsubstError:
        return
    assert isinstance(result, str) and all(isinstance(m, str) for m in missing)


@FAST
@given(text=st.text(alphabet=st.characters(blacklist_characters="$"), max_size=200))
def test_envsubst_leaves_text_without_dollars_alone(text: str) -> None:
    assert substitute(text, {"a": "b"}) == (text, [])


@FAST
@given(text=st.text(max_size=40))
def test_durations_parse_or_refuse(text: str) -> None:
    try:
        parsed = parse_duration(text)
    except DurationError as err:
        assert "duration" in str(err)
        return
    assert parsed >= timedelta(0)


@FAST
@given(ms=st.integers(min_value=0, max_value=10**12))
def test_durations_round_trip(ms: int) -> None:
    delta = timedelta(milliseconds=ms)
    assert parse_duration(format_duration(delta)) == delta


_VERSION_TEXT = st.text(alphabet="0123456789.vV-+xX*abc", max_size=20)
_CONSTRAINT_TEXT = st.text(alphabet="0123456789.vxX*<>=!~^|, -", max_size=30)


@FAST
@given(text=_VERSION_TEXT)
def test_versions_parse_or_refuse(text: str) -> None:
    try:
        version = Version.parse_tag(text)
    except SemverError:
        return
    assert Constraint.parse(f"={version}").check(version)


@FAST
@given(expr=_CONSTRAINT_TEXT, text=_VERSION_TEXT)
def test_constraints_parse_or_refuse_and_check_any_version(expr: str, text: str) -> None:
    try:
        constraint = Constraint.parse(expr, obj="ImagePolicy/ns/app", field="spec.policy.semver.range")
    except SemverError as err:
        assert "ImagePolicy/ns/app" in str(err)
        return
    try:
        version = Version.parse_tag(text)
    except SemverError:
        return
    assert constraint.check(version) in (True, False)


@FAST
@given(versions=st.lists(st.tuples(*[st.integers(0, 30)] * 3), min_size=2, max_size=8))
def test_version_order_is_total(versions: list[tuple[int, int, int]]) -> None:
    parsed = [Version.parse_tag(".".join(map(str, v))) for v in versions]
    assert sorted(parsed) == sorted(sorted(parsed, reverse=True))
    assert [tuple(map(int, str(v).split("."))) for v in sorted(parsed)] == sorted(versions)


_MARKED_YAML = st.lists(
    st.sampled_from(
        [
            'image: ghcr.io/org/app:1.0 # {"$imagepolicy": "flux-system:app"}',
            '  tag: 1.0 # {"$imagepolicy": "flux-system:app:tag"}',
            "- name: x",
            '  - ghcr.io/org/app:1.0 # {"$imagepolicy": "flux-system:app"}',
            'key: \'quoted # {"$imagepolicy": "flux-system:app"}\'',
            "---",
            'a: [1, 2] # {"$imagepolicy": "flux-system:app"}',
            "b: |",
            '  block # {"$imagepolicy": "flux-system:app"}',
            'c: &x 1 # {"$imagepolicy": "flux-system:missing"}',
            "d: *x",
            "\t",
            "e: {",
        ]
    ),
    max_size=12,
)


@FAST
@given(lines=_MARKED_YAML)
def test_setters_rewrite_only_marked_values_or_refuse(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    policies = {"flux-system:app": PolicyResult("ghcr.io/org/app", "2.0")}
    try:
        new, result = set_text(text, policies, "deploy.yaml")
    except ImageError:
        return
    if not result.changes:
        assert new == text
    for change in result.changes:
        assert change.new in ("ghcr.io/org/app:2.0", "2.0")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
_KINDS = ["GitRepository", "Kustomization", "HelmRelease", "ImagePolicy", "Receiver", "Canary", "Alert"]


@FAST
@given(kind=st.sampled_from(_KINDS), spec=_JSON, metadata=_JSON)
def test_specs_parse_or_refuse(kind: str, spec: Any, metadata: Any) -> None:
    groups = {
        "GitRepository": "source.toolkit.fluxcd.io/v1",
        "Kustomization": "kustomize.toolkit.fluxcd.io/v1",
        "HelmRelease": "helm.toolkit.fluxcd.io/v2",
        "ImagePolicy": "image.toolkit.fluxcd.io/v1",
        "Receiver": "notification.toolkit.fluxcd.io/v1",
        "Canary": "flagger.app/v1beta1",
        "Alert": "notification.toolkit.fluxcd.io/v1beta3",
    }
    try:
        parse_object({"apiVersion": groups[kind], "kind": kind, "metadata": metadata, "spec": spec})
    except SpecError as err:
        assert "Traceback" not in str(err)


@FAST
@given(text=st.text(alphabet="abc:{}[]-&*!|>'\"#\n\t ", max_size=80))
def test_yaml_text_loads_or_refuses(text: str) -> None:
    with contextlib.suppress(SpecError):
        load_manifests(text + "\nkind: GitRepository\n")


@FAST
@given(pattern=st.text(alphabet="ab()[]{}*+?|^$\\.,:=<>!0123PLz", max_size=20), subject=st.text(max_size=30))
def test_regexes_compile_or_refuse_and_match_in_time(pattern: str, subject: str) -> None:
    try:
        compiled = regex(pattern, obj="ImagePolicy/ns/app", field="spec.filterTags.pattern")
    except PatternError as err:
        assert "Go RE2 syntax" in str(err) or "over the limit" in str(err)
        return
    compiled.search(subject * 100)
