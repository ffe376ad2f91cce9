"""image-reflector-controller ``internal/policy``: its tables, replayed test by test.

Test names follow upstream's (TestRegexFilter, TestNewSemVer, TestSemVer_Latest,
TestNewAlphabetical, TestAlphabetical_Latest, TestNewNumerical, TestNumerical_Latest,
TestFactory_PolicerFromSpec); inputs and expected results are upstream's.
"""

from __future__ import annotations

import random

import pytest

from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.policy import Kind, Order, TagFilter, TagPolicy
from airflow_flux_provider.specs import SpecError, load_manifests

DEBUG_TAGS = [
    "123-123.123.abcd123-debug",
    "123-123.123.abcd123",
    "123-123.123.abcd456-debug",
    "123-123.123.abcd456",
]

REGEX_FILTER = {
    "none": (["a"], "", "", ["a"]),
    "valid pattern": (["ver1", "ver2", "ver3", "rel1"], "^ver", "", ["ver1", "ver2", "ver3"]),
    "valid pattern with capture group": (
        ["ver1", "ver2", "ver3", "rel1"],
        r"ver(\d+)",
        "$1",
        ["1", "2", "3"],
    ),
    "valid pattern (complex regex 1)": (
        DEBUG_TAGS,
        r"^(123-[0-9]+\.[0-9]+\.[a-z0-9]+-debug)",
        "",
        ["123-123.123.abcd123-debug", "123-123.123.abcd456-debug"],
    ),
    "valid pattern with capture group (complex regex 2)": (
        DEBUG_TAGS,
        r"^(?P<tag>123-[0-9]+\.[0-9]+\.[a-z0-9]+[^-debug])",
        "$tag",
        ["123-123.123.abcd123", "123-123.123.abcd456"],
    ),
    "valid pattern with capture group (complex regex 3)": (
        DEBUG_TAGS,
        r"^(?P<tag>123-[0-9]+\.[0-9]+\.[a-z0-9]+$)",
        "$tag",
        ["123-123.123.abcd123", "123-123.123.abcd456"],
    ),
}


@pytest.mark.parametrize(
    ("tags", "pattern", "extract", "expected"), REGEX_FILTER.values(), ids=REGEX_FILTER.keys()
)
def test_regex_filter(tags: list[str], pattern: str, extract: str, expected: list[str]) -> None:
    assert sorted(TagFilter(pattern, extract).apply(tags)) == expected


@pytest.mark.parametrize("semver_range", ["1.0.x", "^1.0", "=1.0.0", "~1.0", ">=1.0", ">0,<2.0"])
def test_new_semver_with_valid_range(semver_range: str) -> None:
    TagPolicy("semver", semver_range=semver_range)


@pytest.mark.parametrize("semver_range", ["1.0.0p", "1x", "x1", "-1", "a", ""])
def test_new_semver_with_invalid_range(semver_range: str) -> None:
    with pytest.raises(ImageError):
        TagPolicy("semver", semver_range=semver_range)


SEMVER_LATEST = {
    "With valid format": (["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"], "1.0.1"),
    "With valid format prefix": (["v1.2.3", "v1.0.0", "v0.1.0"], "v1.0.0"),
    "With invalid format prefix": (["b1.2.3", "b1.0.0", "b0.1.0"], None),
    "With empty list": ([], None),
    "With non-matching version list": (["1.2.0"], None),
}

ALPHABETICAL_LATEST = {
    "With Ubuntu CalVer": (["16.04", "16.04.1", "16.10", "20.04", "20.10"], "asc", "20.10"),
    "With Ubuntu CalVer descending": (["16.04", "16.04.1", "16.10", "20.04", "20.10"], "desc", "16.04"),
    "With Ubuntu code names": (["xenial", "yakkety", "zesty", "artful", "bionic"], "asc", "zesty"),
    "With Ubuntu code names descending": (
        ["xenial", "yakkety", "zesty", "artful", "bionic"],
        "desc",
        "artful",
    ),
    "With Timestamps": (
        ["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"],
        "asc",
        "1606364286",
    ),
    "With Unix Timestamps desc": (
        ["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"],
        "desc",
        "1606234201",
    ),
    "With Unix Timestamps prefix": (
        ["rel-1606234201", "rel-1606364286", "rel-1606334092", "rel-1606334284", "rel-1606334201"],
        "asc",
        "rel-1606364286",
    ),
    "With RFC3339": (
        [
            "2021-01-08T21-18-21Z",
            "2020-05-08T21-18-21Z",
            "2021-01-08T19-20-00Z",
            "1990-01-08T00-20-00Z",
            "2023-05-08T00-20-00Z",
        ],
        "asc",
        "2023-05-08T00-20-00Z",
    ),
    "With RFC3339 desc": (
        [
            "2021-01-08T21-18-21Z",
            "2020-05-08T21-18-21Z",
            "2021-01-08T19-20-00Z",
            "1990-01-08T00-20-00Z",
            "2023-05-08T00-20-00Z",
        ],
        "desc",
        "1990-01-08T00-20-00Z",
    ),
    "Empty version list": ([], "asc", None),
}

NUMERICAL_LATEST = {
    "With unordered list of integers ascending": (
        ["-62", "-88", "73", "72", "15", "16", "15", "29", "-33", "-91"],
        "asc",
        "73",
    ),
    "With unordered list of integers descending": (
        ["5", "-8", "-78", "25", "70", "-4", "80", "92", "-20", "-24"],
        "desc",
        "-78",
    ),
    "With unordered list of floats ascending": (
        ["47.40896403322944", "-27.8520927455902", "-27.930666514224427", "-31.352485948094568",
         "-50.41072694704882", "-21.962849842263736", "24.71884721436865", "-39.99177354004344",
         "53.47333823144817", "3.2008658570411086"],
        "asc",
        "53.47333823144817",
    ),
    "With unordered list of floats descending": (
        ["-65.27202780220686", "57.82948329142309", "22.40184684363291", "-86.36934305697784",
         "-90.29082099756083", "-12.041712603564264", "77.70488240399305", "-38.98425003883552",
         "16.06867070412028", "53.735674335181216"],
        "desc",
        "-90.29082099756083",
    ),
    "With Unix Timestamps ascending": (
        ["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"],
        "asc",
        "1606364286",
    ),
    "With Unix Timestamps descending": (
        ["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"],
        "desc",
        "1606234201",
    ),
    "With single value ascending": (["1"], "asc", "1"),
    "With single value descending": (["1"], "desc", "1"),
    "With invalid numerical value": (["0", "1a", "b"], "asc", None),
    "Empty version list": ([], "asc", None),
}  # fmt: skip


def _latest(policy: TagPolicy, tags: list[str]) -> str | None:
    try:
        return policy.latest(tags)
    except ImageError:
        return None


@pytest.mark.parametrize(("tags", "expected"), SEMVER_LATEST.values(), ids=SEMVER_LATEST.keys())
def test_semver_latest(tags: list[str], expected: str | None) -> None:
    assert _latest(TagPolicy("semver", semver_range="1.0.x"), tags) == expected


@pytest.mark.parametrize(
    ("tags", "order", "expected"), ALPHABETICAL_LATEST.values(), ids=ALPHABETICAL_LATEST.keys()
)
def test_alphabetical_latest(tags: list[str], order: Order, expected: str | None) -> None:
    assert _latest(TagPolicy("alphabetical", order=order), tags) == expected


@pytest.mark.parametrize(
    ("tags", "order", "expected"), NUMERICAL_LATEST.values(), ids=NUMERICAL_LATEST.keys()
)
def test_numerical_latest(tags: list[str], order: Order, expected: str | None) -> None:
    shuffled = random.Random(len(tags)).sample(tags, len(tags))  # upstream shuffles too
    assert _latest(TagPolicy("numerical", order=order), shuffled) == expected


POLICY = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: app, namespace: ns}
spec:
  imageRepositoryRef: {name: app}
  policy: %s
"""


@pytest.mark.parametrize("kind", ["alphabetical", "numerical"])
@pytest.mark.parametrize("order", ["", "asc", "desc", "invalid"])
def test_new_alphabetical_and_numerical_orders(kind: Kind, order: str) -> None:
    """TestNewAlphabetical / TestNewNumerical: an empty order is asc, an unknown one is refused."""
    choice = f"{{{kind}: {{}}}}" if not order else f"{{{kind}: {{order: {order}}}}}"
    if order == "invalid":
        with pytest.raises(SpecError) as info:
            load_manifests(POLICY % choice)
        assert info.value.field == f"spec.policy.{kind}.order"
        return
    (policy,) = load_manifests(POLICY % choice)
    assert TagPolicy.from_object(policy).order == (order or "asc")


@pytest.mark.parametrize(
    ("choice", "valid"),
    [
        ("{}", False),
        ("{semver: {range: 1.0.x}}", True),
        ("{alphabetical: {}}", True),
        ("{semver: {range: '*-*'}}", False),
    ],
)
def test_factory_policer_from_spec(choice: str, valid: bool) -> None:
    if valid:
        (policy,) = load_manifests(POLICY % choice)
        TagPolicy.from_object(policy)
    else:
        with pytest.raises(SpecError):
            load_manifests(POLICY % choice)
