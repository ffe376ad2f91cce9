"""Semver range syntax as Flux (Masterminds/semver v3) accepts it, checked when a spec is read."""

from __future__ import annotations

import pytest

from airflow_flux_provider.specs import SpecError, load_manifests
from airflow_flux_provider.specs.semver import validate_constraint

VALID = [
    "1.0.x", "^1.0", "=1.0.0", "~1.0", ">=1.0", ">0,<2.0",  # image-reflector-controller test vectors
    "1.x.x", ">=0.x", "^1.x-0", ">=1.2.3-0", "1.2 - 1.4.5", ">= 1.2, < 3.0.0 || >= 4.2.3", "*", "x",
    "v1.2.3", "~>1.2", "=<1.2", "!=1.2.3", "1.2.3+build.1", ">=1.0.0 <2.0.0", "1.x.3",
    ">=01.2.3", "2025.02.x",  # Masterminds reads versions in ranges leniently (leading zeros too)
]  # fmt: skip
INVALID = [
    ("1.0.0p", "is not valid near '1.0.0p'"),  # image-reflector-controller test vectors
    ("1x", "'1x' is not a version"),
    ("x1", "'x1' is not a version"),
    ("-1", "is not valid near '-1'"),
    ("a", "is not valid near 'a'"),
    ("", "is not valid near 'an empty alternative'"),
    ("*-*", "is not valid near '*-*'"),
    ("1.2.3.4", "is not valid near '1.2.3.4'"),
    ("1.2.3-01", "numeric prerelease identifier '01' must not start with 0"),
    ("1.2.3 ||", "is not valid near 'an empty alternative'"),
    (">>1", "is not valid near '>>1'"),
]


@pytest.mark.parametrize("text", VALID)
def test_valid_ranges(text: str) -> None:
    assert validate_constraint(text) == text


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid_ranges(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_constraint(text)
    assert str(info.value).startswith(f"semver range {text!r}")
    assert reason in str(info.value)
    assert "write e.g. >=1.0.0, 1.2.x, ~1.2, ^1.0" in str(info.value)


@pytest.mark.parametrize(
    ("manifest", "field"),
    [
        ("""\
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: app, namespace: flux-system}
spec:
  imageRepositoryRef: {name: app}
  policy:
    semver:
      range: 1.x.x.x
""", "spec.policy.semver.range"),
        ("""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: app, namespace: flux-system}
spec:
  interval: 1m
  url: https://example.com/app.git
  ref:
    semver: ">= 1.0 || latest"
""", "spec.ref.semver"),
        ("""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: app, namespace: flux-system}
spec:
  interval: 1m
  url: oci://ghcr.io/org/app
  ref:
    semver: "~v1.x.y"
""", "spec.ref.semver"),
    ],
)  # fmt: skip
def test_specs_refuse_bad_ranges_at_the_field(manifest: str, field: str) -> None:
    with pytest.raises(SpecError) as info:
        load_manifests(manifest)
    assert info.value.field == field
    assert f"field {field} (line 8): semver range" in str(info.value)
