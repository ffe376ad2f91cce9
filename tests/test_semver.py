"""Masterminds/semver v3.4 behaviour that Flux and Helm users rely on when they write a range."""

from __future__ import annotations

import pytest

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.semver import Constraint, SemverError, Version, latest

CHECKS = [
    # wildcards and missing parts
    ("*", "1.2.3", True),
    ("*", "1.2.3-alpha", False),
    ("x", "0.0.1", True),
    ("1.x", "1.9.9", True),
    ("1.x", "2.0.0", False),
    ("1.2.x", "1.2.7", True),
    ("1.2.X", "1.3.0", False),
    ("4.1", "4.1.0", True),
    ("4.1", "4.1.5", True),
    ("= 2.0", "2.0.0", True),
    ("= 2.0", "1.2.3", False),
    ("0.0.0", "1.2.3", False),
    ("1.2.3", "1.2.3+build.5", True),
    ("v1.2.3", "1.2.3", True),
    # inequalities
    (">1.1", "1.1.9", False),
    (">1.1", "1.2.0", True),
    (">1", "1.9.0", False),
    (">1", "2.0.0", True),
    ("<1.1", "1.0.9", True),
    ("<1.1", "1.1.0", False),
    ("<1.x", "0.9.0", True),
    ("<1.x", "1.0.1", False),
    (">=1.1", "1.1.0", True),
    (">=1.1", "1.0.9", False),
    ("=>1.1", "1.1.0", True),
    ("<=1.1", "1.1.9", True),
    ("<=1.1", "1.2.0", False),
    ("=<1.1.0", "1.1.1", False),
    ("<=1.x", "1.9.0", True),
    ("<=2.x", "3.0.0", False),
    # not equal
    ("!=4.1", "4.1.0", False),
    ("!=4.1", "5.1.0", True),
    ("!=4.x", "4.1.0", False),
    ("!=4.1.x", "4.2.0", True),
    ("!=4.2.x", "4.2.3", False),
    ("!=4.1-alpha", "4.1.0", True),
    ("!=4.1-alpha", "4.1.0-alpha", False),
    ("!=1.2.3", "1.2.3-rc.1", False),
    # tilde and caret
    ("~1.2.3", "1.2.9", True),
    ("~1.2.3", "1.3.0", False),
    ("~1.2.3", "1.2.2", False),
    ("~1", "1.9.0", True),
    ("~1", "2.0.0", False),
    ("~>1.2", "1.2.9", True),
    ("~0.0.0", "3.4.5", True),
    ("~*", "2.1.1", True),
    ("^1.2", "1.9.9", True),
    ("^1.2", "2.0.0", False),
    ("^1.2", "1.1.0", False),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^0.0.0", "1.2.3", False),
    ("^1.x", "1.1.1", True),
    ("^1.x", "2.1.1", False),
    # AND, OR, hyphen ranges
    (">=1.1, <2", "1.5.0", True),
    (">=1.1 <2", "2.0.0", False),
    (">=1.1    <2    !=1.2.3", "1.2.3", False),
    (">= 1.1, <2, != 1.2.3 || >= 3", "3.0.0", True),
    (">=1.1 <2 !=1.2.3 || > 3", "3.1.2", False),
    ("1.2 - 1.4.5", "1.4.5", True),
    ("1.2 - 1.4.5", "1.4.6", False),
    ("1.2 - 1.4.5", "1.1.9", False),
    ("1.1 - 2", "2.0.9", True),
    ("1.0.0 - 2.0.0, <=2.0.0", "1.5.0", True),
    # prereleases: only when the alternative names one
    (">=1.0.0", "1.1.0-rc.1", False),
    (">=1.0.0-0", "1.1.0-rc.1", True),
    ("~1.1-alpha", "1.1.1-beta", True),
    ("~1.1.1-beta", "1.1.1-alpha", False),
    ("^1.1.2-alpha", "1.2.1-beta1", True),
    (">= 1.0.0 <= 2.0.0-beta", "1.0.1-beta", True),
    (">= 1.0.0 <= 2.0.0-beta || > 3", "3.0.1-beta", False),
    ("<=1.1-a", "0.1.0-alpha", True),
]


@pytest.mark.parametrize(("expr", "version", "expected"), CHECKS)
def test_constraint_check(expr: str, version: str, expected: bool) -> None:
    assert Constraint.parse(expr).check(Version.parse(version)) is expected


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("1.2.3", (1, 2, 3, "", "")),
        ("v1.2.3", (1, 2, 3, "", "")),
        ("1", (1, 0, 0, "", "")),
        ("v2.5", (2, 5, 0, "", "")),
        ("01.002.3", (1, 2, 3, "", "")),
        ("1.2.3-rc.1+sha.5114f85", (1, 2, 3, "rc.1", "sha.5114f85")),
        ("1.0-beta", (1, 0, 0, "beta", "")),
    ],
)
def test_lenient_parse(text: str, fields: tuple[int, int, int, str, str]) -> None:
    v = Version.parse(text)
    assert (v.major, v.minor, v.patch, v.prerelease, v.metadata) == fields
    assert v.original == text


@pytest.mark.parametrize(
    "text", ["", "latest", "1.2.3.4", "1.2.3-01", "1.2.3-", "1.2.3+", "1.2.3-a..b", "1.2.-3"]
)
def test_lenient_parse_refuses(text: str) -> None:
    with pytest.raises(SemverError):
        Version.parse(text)


FLUX_TAGS = [
    # fluxcd/pkg version.ParseVersion: exactly three dot-separated parts, then Masterminds' lenient parser
    ("1.2.3", "1.2.3"),
    ("v1.2.3", "1.2.3"),
    ("2025.02.03", "2025.2.3"),  # CalVer with leading zeros qualifies
    ("v2025.02.03-rc.1", "2025.2.3-rc.1"),
    ("01.02.03", "1.2.3"),
    ("1.2-rc.1", "1.2.0-rc.1"),  # three parts split on ".", and the lenient parser fills the patch
    ("1.2.3+build.5", "1.2.3+build.5"),
]
NOT_FLUX_TAGS = ["1.2", "v1", "1.0.0.1", "1.0.0p", "b1.0.0", "latest", "1.2.3-01", "1.2.x", "", "v"]


@pytest.mark.parametrize(("tag", "version"), FLUX_TAGS)
def test_flux_reads_tags_with_three_parts_leniently(tag: str, version: str) -> None:
    parsed = Version.parse_tag(tag)
    assert (str(parsed), parsed.original) == (version, tag)


@pytest.mark.parametrize("tag", NOT_FLUX_TAGS)
def test_flux_tag_rule_refuses(tag: str) -> None:
    with pytest.raises(SemverError):
        Version.parse_tag(tag)


def test_precedence_follows_semver_2() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
        "10.0.0",
    ]
    shuffled = list(reversed(ordered))
    assert [v.original for v in sorted(map(Version.parse, shuffled))] == ordered
    assert Version.parse("1.0.0+a") == Version.parse("1.0.0+b")
    assert Version.parse("1.2.3-2") < Version.parse("1.2.3-10") < Version.parse("1.2.3-a")


def test_latest_returns_the_text_as_written() -> None:
    tags = ["1.0.0", "v1.2.0", "1.2.0", "1.3.0-rc.1", "latest", "0.9"]
    assert latest(tags, ">=1.0.0") == "v1.2.0"
    assert latest(tags, ">=1.3.0-0") == "1.3.0-rc.1"
    assert latest(tags, "<1.0.0") == "0.9"
    assert latest(tags, "<1.0.0", flux_tags=True) is None
    assert latest(tags, ">=5") is None


@pytest.mark.parametrize("expr", ["", "abc", "1.2.3.4", ">=1.2.3 ||", ">=1.2.3 <", "1.2.3-01", ">>1.0"])
def test_bad_ranges_are_clear_errors(expr: str) -> None:
    with pytest.raises(SemverError) as info:
        Constraint.parse(expr, obj="ImagePolicy/apps/podinfo", field="spec.policy.semver.range")
    assert isinstance(info.value, FluxError)
    message = str(info.value)
    assert message.startswith("ImagePolicy/apps/podinfo field spec.policy.semver.range:")
    assert "e.g." in message


MORE_CHECKS = [
    # caret below 1.0: the leftmost non-zero part is fixed (^0.2.3 never accepts 1.x)
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.2.3", "1.2.3", False),
    ("^0.1.2", "0.1.9", True),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^0.0.3", "0.1.0", False),
    ("^0.0.3", "0.1.3", False),
    ("^0.0.3", "1.0.0", False),
    # plain inequality and inequality against a wildcard major
    (">1.0.0", "1.0.0", False),
    (">1.0.0", "1.0.1", True),
    (">*", "0.0.0", False),
    (">*", "0.0.1", True),
    (">*", "1.0.0", True),
    # != against full versions and wildcards
    ("!=1.0.0", "1.0.1", True),
    ("!=1.0.0", "1.0.0", False),
    ("!=*", "0.0.0", False),
    ("!=*", "0.0.1", True),
    ("!=*", "0.1.0", True),
    ("!=*", "1.0.0", True),
]


@pytest.mark.parametrize(("expr", "version", "expected"), MORE_CHECKS)
def test_more_constraint_checks(expr: str, version: str, expected: bool) -> None:
    assert Constraint.parse(expr).check(version) is expected
    assert str(Constraint.parse(expr)) == expr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "an empty string is not a semantic version; write e.g. 1.2.3"),
        ("1.0.0-", "'1.0.0-' is not a semantic version; write e.g. 1.2.3, v1.2 or 1.2.3-rc.1"),
        ("1.0.0-01", "'1.0.0-01': numeric prerelease identifier '01' must not start with 0"),
        (
            "18446744073709551616.0.0",
            "'18446744073709551616.0.0': 18446744073709551616 is larger than a 64-bit version number allows",
        ),
    ],
)
def test_versions_that_do_not_parse_say_why(text: str, message: str) -> None:
    with pytest.raises(SemverError) as info:
        Version.parse(text)
    assert str(info.value) == message


def test_version_values() -> None:
    biggest = Version.parse("18446744073709551615.0.0")
    assert biggest.major == 2**64 - 1
    assert Version.parse("1.0.0+01").metadata == "01"  # leading zeros are fine in build metadata
    plain = Version(1, 2, 3)
    assert (str(plain), plain.prerelease, plain.metadata, plain.original) == ("1.2.3", "", "", "")
    assert (Version.parse("1.0.0") == "1.0.0") is False
    assert len({Version.parse("1.0.0"), Version.parse("v1.0.0+b"), Version.parse("1.0.1")}) == 2


@pytest.mark.parametrize(
    ("expr", "near"),
    [
        ("1.0.0 ||", "an empty alternative"),
        ("|| 1", "an empty alternative"),
        (">=1 <", ">=1 <"),
        ("1.0.0 - ", "1.0.0 -"),
    ],
)
def test_bad_ranges_quote_where(expr: str, near: str) -> None:
    with pytest.raises(SemverError) as info:
        Constraint.parse(expr, obj="HelmRelease/a/b", field="spec.chart.spec.version")
    assert str(info.value) == (
        f"HelmRelease/a/b field spec.chart.spec.version: semver range {expr!r} is not valid near {near!r}; "
        "write e.g. >=1.0.0, 1.2.x, ~1.2, ^1.0 or >=1.0.0 <2.0.0 (|| between alternatives)"
    )


def test_latest_skips_text_that_is_no_version() -> None:
    assert latest(["junk", "1.0.0", "1.2"], "*") == "1.2"
    assert latest(["junk", "1.0.0", "1.2"], "*", flux_tags=True) == "1.0.0"  # Flux wants three parts
    assert latest(["2.0.0"], "<1") is None
