"""ImagePolicy table: tag lists in, the tag image-reflector-controller would pick out."""

from __future__ import annotations

import math
from typing import Any

import pytest

from airflow_flux_provider.images.errors import ImageError, NoTagError
from airflow_flux_provider.images.policy import (
    Kind,
    PolicyResult,
    TagFilter,
    TagPolicy,
    go_parse_float,
    policy_key,
)
from airflow_flux_provider.specs.images import ImagePolicy
from airflow_flux_provider.specs.manifests import load_manifests

SEMVER_TAGS = ["1.0.0", "1.0.1", "1.1.0", "1.2.0-rc.1", "1.10.0", "2.0.0", "v2.1.0", "2.2.0-beta", "latest"]
TS_TAGS = ["main-a1b2c3d-1700000000", "main-e4f5a6b-1700000300", "dev-0000000-1800000000", "main-bad"]

# (policy, pattern, extract, tags, expected tag)
CASES: list[tuple[dict[str, Any], str, str, list[str], str]] = [
    # semver ranges
    ({"semver": ">=1.0.0"}, "", "", SEMVER_TAGS, "v2.1.0"),
    ({"semver": "1.x.x"}, "", "", SEMVER_TAGS, "1.10.0"),
    ({"semver": "1.x"}, "", "", SEMVER_TAGS, "1.10.0"),
    ({"semver": "~1.0"}, "", "", SEMVER_TAGS, "1.0.1"),
    ({"semver": "^1.0.0"}, "", "", SEMVER_TAGS, "1.10.0"),
    ({"semver": "<1.1.0"}, "", "", SEMVER_TAGS, "1.0.1"),
    ({"semver": ">=1.0.0 <2.0.0"}, "", "", SEMVER_TAGS, "1.10.0"),
    ({"semver": ">=1.0.0, <2.0.0"}, "", "", SEMVER_TAGS, "1.10.0"),
    ({"semver": "1.0.0 - 1.2.0"}, "", "", SEMVER_TAGS, "1.1.0"),
    ({"semver": "<1.0.0 || >=2.0.0 <2.1.0"}, "", "", SEMVER_TAGS, "2.0.0"),
    ({"semver": "!=2.1.0"}, "", "", SEMVER_TAGS, "2.0.0"),
    ({"semver": "*"}, "", "", SEMVER_TAGS, "v2.1.0"),
    ({"semver": ">=2.2.0-0"}, "", "", SEMVER_TAGS, "2.2.0-beta"),
    ({"semver": ">=1.2.0-rc.0 <1.3.0"}, "", "", SEMVER_TAGS, "1.2.0-rc.1"),
    ({"semver": "1.0.0"}, "", "", SEMVER_TAGS, "1.0.0"),
    ({"semver": "2.1.0"}, "", "", SEMVER_TAGS, "v2.1.0"),
    ({"semver": ">1.0.0"}, "", "", ["1.0", "1.1", "1.0.5"], "1.0.5"),
    ({"semver": "*"}, "", "", ["01.2.3", "1.2.3"], "01.2.3"),  # equal versions: the first one seen
    ({"semver": ">=2025.0.0"}, "", "", ["2025.02.03", "2025.10.01", "2024.12.31"], "2025.10.01"),  # CalVer
    ({"semver": ">=0.0.0-0"}, "", "", ["1.2-rc.1", "1.2"], "1.2-rc.1"),  # three "."-parts, lenient parse
    ({"semver": "*"}, "", "", ["v1.0.0", "1.0.0"], "v1.0.0"),
    ({"semver": "*"}, "", "", ["1.0.0", "v1.0.0"], "1.0.0"),
    ({"semver": "*"}, "", "", ["1.0.0+build.2", "1.0.1+build.1"], "1.0.1+build.1"),
    ({"semver": ">=0.0.0-0"}, "", "", ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta"], "1.0.0-beta"),
    ({"semver": ">=0.0.0-0"}, "", "", ["1.0.0-beta.2", "1.0.0-beta.11"], "1.0.0-beta.11"),
    ({"semver": ">=0.0.0-0"}, "", "", ["1.0.0-rc.1", "1.0.0"], "1.0.0"),
    ({"semver": "~0.1"}, "", "", ["0.1.0", "0.1.9", "0.2.0"], "0.1.9"),
    ({"semver": "^0.1.2"}, "", "", ["0.1.0", "0.1.9", "0.2.0"], "0.1.9"),
    ({"semver": "^0.0.3"}, "", "", ["0.0.3", "0.0.4"], "0.0.3"),
    ({"semver": ">=10"}, "", "", ["9.9.9", "10.0.0", "100.0.0"], "100.0.0"),
    # semver with filterTags
    (
        {"semver": ">=1.0.0"},
        r"^v?(?P<v>\d+\.\d+\.\d+)-alpine$",
        "$v",
        ["1.2.0-alpine", "1.3.0", "1.1.0-alpine"],
        "1.2.0-alpine",
    ),
    (
        {"semver": ">=1.0.0"},
        r"^(?P<v>.*)-alpine$",
        "${v}",
        ["1.2.0-alpine", "2.0.0-alpine", "3.0.0"],
        "2.0.0-alpine",
    ),
    (
        {"semver": "1.x"},
        r"^release-(\d+\.\d+\.\d+)$",
        "$1",
        ["release-1.0.0", "release-1.4.0", "1.9.0"],
        "release-1.4.0",
    ),
    ({"semver": ">=1.0.0-0"}, r"-prod$", "", ["1.0.0-prod", "1.1.0-dev", "1.0.5-prod"], "1.0.5-prod"),
    # alphabetical
    ({"alphabetical": "asc"}, "", "", ["a", "c", "b"], "c"),
    ({"alphabetical": "desc"}, "", "", ["a", "c", "b"], "a"),
    (
        {"alphabetical": "asc"},
        "",
        "",
        ["RELEASE.2024-01-01", "RELEASE.2024-06-01", "RELEASE.2023-12-31"],
        "RELEASE.2024-06-01",
    ),
    ({"alphabetical": "asc"}, "", "", ["Zeta", "alpha"], "alpha"),
    ({"alphabetical": "desc"}, "", "", ["Zeta", "alpha"], "Zeta"),
    ({"alphabetical": "asc"}, "", "", ["1.10.0", "1.9.0"], "1.9.0"),
    ({"alphabetical": "asc"}, "", "", ["9", "10"], "9"),
    ({"alphabetical": "asc"}, "", "", ["abc", "abcd"], "abcd"),
    ({"alphabetical": "desc"}, "", "", ["abc", "abcd"], "abc"),
    ({"alphabetical": "asc"}, "", "", ["été", "zèbre"], "été"),
    ({"alphabetical": "asc"}, r"^main-[a-f0-9]+-(?P<ts>\d+)$", "$ts", TS_TAGS, "main-e4f5a6b-1700000300"),
    ({"alphabetical": "desc"}, r"^main-[a-f0-9]+-(?P<ts>\d+)$", "$ts", TS_TAGS, "main-a1b2c3d-1700000000"),
    ({"alphabetical": "asc"}, r"^main-", "", TS_TAGS, "main-e4f5a6b-1700000300"),
    ({"alphabetical": "asc"}, r"^(?<branch>[a-z]+)-", "$branch", ["dev-1", "main-2", "feat-3"], "main-2"),
    # numerical
    ({"numerical": "asc"}, "", "", ["1", "10", "9"], "10"),
    ({"numerical": "desc"}, "", "", ["1", "10", "9"], "1"),
    ({"numerical": "asc"}, "", "", ["1.5", "1.25", "-3"], "1.5"),
    ({"numerical": "desc"}, "", "", ["1.5", "1.25", "-3"], "-3"),
    ({"numerical": "asc"}, "", "", ["1e3", "999"], "1e3"),
    ({"numerical": "asc"}, "", "", ["0x10p0", "15"], "0x10p0"),
    ({"numerical": "asc"}, "", "", ["007", "7"], "7"),
    ({"numerical": "desc"}, "", "", ["7", "007"], "007"),
    ({"numerical": "asc"}, "", "", ["+5", "4"], "+5"),
    ({"numerical": "asc"}, "", "", ["1_000", "999"], "1_000"),  # Go reads "_" between digits
    ({"numerical": "asc"}, "", "", ["-Inf", "NaN", "3"], "3"),
    ({"numerical": "asc"}, r"^main-[a-f0-9]+-(?P<ts>\d+)$", "$ts", TS_TAGS, "main-e4f5a6b-1700000300"),
    ({"numerical": "desc"}, r"^main-[a-f0-9]+-(?P<ts>\d+)$", "$ts", TS_TAGS, "main-a1b2c3d-1700000000"),
    ({"numerical": "asc"}, r"-(?P<ts>\d+)$", "${ts}", TS_TAGS, "dev-0000000-1800000000"),
    ({"numerical": "asc"}, r"^build-(\d+)$", "$1", ["build-9", "build-10", "build-x"], "build-10"),
    ({"numerical": "asc"}, r"^(?P<n>\d+)-(?P<m>\d+)$", "$n$m", ["1-9", "2-0", "1-10"], "1-10"),
    ({"numerical": "asc"}, r"^(?P<n>\d+)-(?P<m>\d+)$", "${m}", ["1-9", "2-0", "1-10"], "1-10"),
    ({"alphabetical": "asc"}, r"^(?P<n>\d+)$", "$$$n", ["5", "7"], "7"),
    ({"semver": "*"}, r"^(?P<n>\d+)$", "${n}.0.0", ["5", "12", "7"], "12"),
    # filterTags is Go RE2 syntax: POSIX classes, Unicode classes, \z, (?<name>...)
    ({"numerical": "asc"}, r"^build-([[:digit:]]+)$", "$1", ["build-9", "build-10", "build-x"], "build-10"),
    ({"alphabetical": "asc"}, r"^\p{L}+-(?<n>[0-9]+)\z", "$n", ["été-1", "abc-3", "9-5", "abc-4\n"], "abc-3"),
    # linear time: a pattern that makes a backtracking engine run for ages is harmless
    ({"alphabetical": "asc"}, r"^(a+)+$", "", ["a" * 5000 + "!", "aaa"], "aaa"),
]


def _policy(choice: dict[str, Any], pattern: str = "", extract: str = "") -> TagPolicy:
    tag_filter = TagFilter(pattern, extract) if pattern or extract else None
    if "semver" in choice:
        return TagPolicy("semver", semver_range=choice["semver"], tag_filter=tag_filter)
    kind: Kind = "alphabetical" if "alphabetical" in choice else "numerical"
    return TagPolicy(kind, order=choice[kind], tag_filter=tag_filter)


@pytest.mark.parametrize(("choice", "pattern", "extract", "tags", "expected"), CASES)
def test_policy_picks(
    choice: dict[str, Any], pattern: str, extract: str, tags: list[str], expected: str
) -> None:
    assert _policy(choice, pattern, extract).latest(tags) == expected


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize(
    ("choice", "pattern", "extract", "tags", "error", "needle"),
    [
        (
            {"semver": ">=3.0.0"},
            "",
            "",
            SEMVER_TAGS,
            NoTagError,
            "none of 9 tags satisfies semver range '>=3.0.0'",
        ),
        ({"semver": "*"}, "", "", ["latest", "main"], NoTagError, "satisfies semver range"),
        ({"semver": ">=1.0.0"}, "-prod$", "", ["1.0.0-prod"], NoTagError, "satisfies semver range"),
        ({"semver": "*"}, "^v", "", ["1.0.0"], NoTagError, "no tag matches filterTags.pattern '^v'"),
        ({"alphabetical": "asc"}, "", "", [], NoTagError, "no tag was scanned"),
        ({"numerical": "asc"}, "", "", ["1", "2", "latest"], ImageError, "'latest' is not a number"),
        ({"numerical": "asc"}, "", "", ["1__000"], ImageError, "'1__000' is not a number"),
        ({"numerical": "asc"}, "", "", ["1e400"], ImageError, "'1e400' is not a number"),  # out of range
        ({"numerical": "asc"}, "", "", ["+NaN"], ImageError, "'+NaN' is not a number"),
        ({"numerical": "asc"}, "", "", ["\u0661"], ImageError, "is not a number"),  # Arabic-Indic one
        ({"numerical": "asc"}, "(", "", ["1"], ImageError, "filterTags.pattern: pattern '(' is not a valid"),
        ({"numerical": "asc"}, "(?P<ts>\\d+)", "$tz", ["1"], ImageError, "refers to $tz"),
        ({"numerical": "asc"}, "(\\d+)", "$2", ["1"], ImageError, "refers to $2"),
        ({"semver": ">=1.0.0 ||"}, "", "", ["1.0.0"], ImageError, "spec.policy.semver.range"),
    ],
)
def test_policy_failures_are_clear(
    choice: dict[str, Any], pattern: str, extract: str, tags: list[str], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error) as info:
        _policy(choice, pattern, extract).latest(tags)
    assert needle in str(info.value)


POLICY_YAML = """
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: ml-training
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: ml-training
  filterTags:
    pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)'
    extract: '$ts'
  policy:
    numerical:
      order: asc
"""


def test_policy_from_manifest_names_the_object() -> None:
    (policy,) = load_manifests(POLICY_YAML)
    assert isinstance(policy, ImagePolicy)
    chooser = TagPolicy.from_object(policy)
    assert chooser.latest(TS_TAGS) == "main-e4f5a6b-1700000300"
    with pytest.raises(NoTagError, match=r"^ImagePolicy/flux-system/ml-training: no tag matches"):
        chooser.latest(["v1"])


def test_result_reference() -> None:
    assert PolicyResult("ghcr.io/org/app", "1.2.3").ref == "ghcr.io/org/app:1.2.3"
    assert PolicyResult("app", "1", "sha256:ab").ref == "app:1@sha256:ab"


# Go's strconv.ParseFloat(text, 64): what the numerical policy accepts, and the value it compares.
GO_FLOATS: list[tuple[str, float | None]] = [
    ("1e+3", 1000.0),
    ("1E-2", 0.01),
    (".5", 0.5),
    ("5.", 5.0),
    ("1_0.2_5", 10.25),
    ("0x1p-2", 0.25),
    ("0X_1p0", 1.0),  # "_" right after the base prefix
    ("0x1.8p1", 3.0),
    ("0x1p1_0", 1024.0),
    ("+Infinity", math.inf),
    ("-inf", -math.inf),
    ("0x10", None),  # a hex mantissa needs a p exponent
    ("1_", None),
    ("_1", None),
    ("1.5e", None),
    ("+", None),
    ("", None),
    ("1e400", None),  # out of range: an error in Go, inf in Python
]


@pytest.mark.parametrize(("text", "value"), GO_FLOATS)
def test_numerical_values_parse_as_go_does(text: str, value: float | None) -> None:
    assert go_parse_float(text) == value


def test_nan_is_a_number_that_never_wins() -> None:
    assert math.isnan(go_parse_float("NaN") or 0.0)
    assert math.isnan(go_parse_float("nan") or 0.0)


@pytest.mark.parametrize(
    ("pattern", "extract", "tags", "values"),
    [
        # $$ is a literal $, an unmatched optional group expands to nothing, $0 is the whole match
        (r"^(?P<a>\d+)(-(?P<b>x))?$", "$a$b$$", ["1", "2-x", "q"], {"1$": "1", "2x$": "2-x"}),
        (r"^(\d+)$", "$0-$1", ["5"], {"5-5": "5"}),
        # no extract: the tag itself, kept when the pattern matches anywhere in it
        (r"rc", "", ["1.0-rc1", "1.0", "rc"], {"1.0-rc1": "1.0-rc1", "rc": "rc"}),
        # a later tag wins a shared value
        (r"^(?P<v>\d+)-", "$v", ["1-a", "1-b"], {"1": "1-b"}),
    ],
)
def test_filter_tags_compares_extracted_values(
    pattern: str, extract: str, tags: list[str], values: dict[str, str]
) -> None:
    assert TagFilter(pattern, extract).apply(tags) == values


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"kind": "semver"},
            "ImagePolicy/ns/p field spec.policy.semver.range: a semver policy needs a range, e.g. >=1.0.0",
        ),
        (
            {"kind": "semver", "semver_range": "1.0.0-"},
            "ImagePolicy/ns/p field spec.policy.semver.range: "
            "semver range '1.0.0-' is not valid near '1.0.0-'",
        ),
    ],
)
def test_bad_semver_policy_names_the_range_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ImageError) as info:
        TagPolicy(obj="ImagePolicy/ns/p", **kwargs)
    assert str(info.value).startswith(message)


def test_unknown_extract_group_names_the_extract_field() -> None:
    with pytest.raises(ImageError) as info:
        TagFilter("(a)", "${zz}", obj="ImagePolicy/ns/p")
    assert info.value.field == "spec.filterTags.extract"
    assert str(info.value) == (
        "ImagePolicy/ns/p field spec.filterTags.extract: extract '${zz}' refers to $zz, which pattern "
        "'(a)' does not define; name a group with (?P<zz>...) or change the reference"
    )
    assert TagFilter("(a)(b)", "$2$1").apply(["ab"]) == {"ba": "ab"}  # numbered groups up to their count


@pytest.mark.parametrize(
    ("policy", "tags", "message"),
    [
        (
            TagPolicy("alphabetical"),
            [],
            "ImagePolicy: no tag was scanned (out of 0); check the pattern or the repository",
        ),
        (
            TagPolicy("numerical", tag_filter=TagFilter("^x")),
            ["a", "b"],
            "ImagePolicy: no tag matches filterTags.pattern '^x' (out of 2); "
            "check the pattern or the repository",
        ),
        (
            TagPolicy("semver", semver_range=">=5", obj="ImagePolicy/ns/p"),
            ["1.0.0", "x"],
            "ImagePolicy/ns/p field spec.policy.semver.range: none of 2 tags satisfies semver range '>=5'; "
            "widen the range or push a matching tag",
        ),
    ],
)
def test_no_qualifying_tag_says_how_many_were_looked_at(
    policy: TagPolicy, tags: list[str], message: str
) -> None:
    with pytest.raises(NoTagError) as info:
        policy.latest(tags)
    assert str(info.value) == message


def _manifest(policy: str, filter_tags: str = "") -> ImagePolicy:
    (obj,) = load_manifests(
        "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\n"
        "metadata: {name: app, namespace: apps}\n"
        f"spec:\n  imageRepositoryRef: {{name: app}}\n{filter_tags}  policy:\n{policy}"
    )
    assert isinstance(obj, ImagePolicy)
    return obj


@pytest.mark.parametrize(
    ("policy", "filter_tags", "tags", "expected"),
    [
        ("    semver: {range: '^0.2.3'}\n", "", ["0.2.3", "0.2.9", "0.3.0", "1.0.0"], "0.2.9"),
        ("    semver: {range: '>=1.0.0'}\n", "", ["1.0.0", "1.0.0-", "v1.2.0"], "v1.2.0"),
        ("    alphabetical: {order: asc}\n", "", ["9", "10"], "9"),
        ("    numerical: {order: asc}\n", "", ["9", "10"], "10"),
        ("    alphabetical: {order: desc}\n", "", ["b", "a", "c"], "a"),
        ("    numerical: {order: desc}\n", "", ["9", "10"], "9"),
        (
            "    semver: {range: '1.x'}\n",
            "  filterTags: {pattern: '^v', extract: ''}\n",
            ["v1.5.0", "1.9.0"],
            "v1.5.0",
        ),
        ("    numerical: {order: asc}\n", "  filterTags: {pattern: '', extract: ''}\n", ["3", "12"], "12"),
    ],
)
def test_policy_from_manifest(policy: str, filter_tags: str, tags: list[str], expected: str) -> None:
    obj = _manifest(policy, filter_tags)
    assert TagPolicy.from_object(obj).latest(tags) == expected
    assert policy_key(obj) == "apps:app"


def test_semver_policy_from_manifest_names_the_object_when_nothing_qualifies() -> None:
    chooser = TagPolicy.from_object(_manifest("    semver: {range: '>=2.0.0'}\n"))
    with pytest.raises(
        NoTagError, match=r"^ImagePolicy/apps/app field spec.policy.semver.range: none of 1 tags"
    ):
        chooser.latest(["1.0.0"])
    numerical = TagPolicy.from_object(_manifest("    numerical: {order: asc}\n"))
    with pytest.raises(ImageError, match=r"^ImagePolicy/apps/app field spec.policy.numerical: tag value 'x'"):
        numerical.latest(["1", "x"])


def test_defaults_keep_every_tag_order_ascending_and_name_the_kind() -> None:
    assert TagFilter().apply(["a", "b"]) == {"a": "a", "b": "b"}
    assert TagFilter("^v").apply(["v1", "x"]) == {"v1": "v1"}
    assert TagPolicy("alphabetical").latest(["a", "c", "b"]) == "c"
    assert TagPolicy("numerical").latest(["2", "10"]) == "10"
    with pytest.raises(NoTagError, match=r"^ImagePolicy: no tag was scanned"):
        TagPolicy("alphabetical").latest([])
    with pytest.raises(ImageError, match=r"^ImagePolicy field spec.filterTags.extract: "):
        TagFilter("(a)", "$b")
    obj = _manifest("    numerical: {order: asc}\n")
    with pytest.raises(ImageError, match=r"^ImagePolicy field spec.policy.numerical: "):
        TagPolicy.from_spec(obj.spec).latest(["x"])
