"""User-supplied patterns run on RE2 in linear time with Go's syntax (issue 16, finding 6).

Each hostile case below takes years with Python's backtracking ``re`` (each extra character
doubles it); the timeout marker turns such a hang into a failure. Timings themselves are
measured in bench/hostile_inputs.py, never asserted here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.policy import TagFilter
from airflow_flux_provider.images.registry import exclude
from airflow_flux_provider.kustomize.envsubst import substitute
from airflow_flux_provider.notifications.alert import compile_patterns
from airflow_flux_provider.notifications.errors import NotificationError
from airflow_flux_provider.patterns import MAX_PATTERN, Glob, PatternError, regex
from airflow_flux_provider.sources.ignore import IgnoreRules, parse_lines
from airflow_flux_provider.specs import SpecError, load_manifests
from airflow_flux_provider.specs.duration import DurationError, parse_duration

pytestmark = pytest.mark.timeout(60)

EVIL = "a" * 5000 + "!"


def test_go_syntax_works_in_tag_filters() -> None:
    digits = TagFilter(r"^[[:digit:]]+\p{L}\z")
    assert digits.apply(["12a", "12ab", "x1a", "1é"]) == {"12a": "12a", "1é": "1é"}
    named = TagFilter(r"^main-(?<ts>\d+)$", "$ts")  # Go's (?<name>) as well as (?P<name>)
    assert named.apply(["main-7", "dev-8"]) == {"7": "main-7"}


def test_backtracking_patterns_run_in_linear_time() -> None:
    assert TagFilter(r"^(a+)+$").apply([EVIL, "aaa"]) == {"aaa": "aaa"}
    assert exclude([EVIL, "v1"], [r"^(a|aa)+$"]) == [EVIL, "v1"]
    (alert,) = compile_patterns([r"(a+a+)+y"], obj="Alert/ns/a", field="spec.inclusionList")
    assert alert.search(EVIL) is None


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [("(?=a)b", "invalid perl operator"), (r"(a)\1", "invalid escape"), ("(a", "missing )")],
)
def test_patterns_go_refuses_name_object_and_field(pattern: str, reason: str) -> None:
    with pytest.raises(ImageError) as info:
        TagFilter(pattern, obj="ImagePolicy/apps/web")
    assert str(info.value).startswith("ImagePolicy/apps/web field spec.filterTags.pattern: ")
    assert reason in str(info.value) and "Go RE2 syntax" in str(info.value)
    with pytest.raises(ImageError, match=r"field spec\.exclusionList\[1\]"):
        exclude(["v1"], ["ok", pattern], obj="ImageRepository/apps/web")
    with pytest.raises(NotificationError, match=r"field spec\.eventMetadata\[0\]"):
        compile_patterns([pattern], obj="Alert/ns/a", field="spec.eventMetadata")


def test_huge_patterns_are_refused_before_compiling() -> None:
    with pytest.raises(PatternError, match=f"over the limit of {MAX_PATTERN}"):
        regex("a" * (MAX_PATTERN + 1))
    with pytest.raises(PatternError, match="bad repetition operator"):
        regex("a{1000}{1000}")  # an exponential program, refused by RE2 itself


def test_envsubst_glob_operators_are_linear() -> None:
    value = "a" * 3000
    text = "${V##*a*a*a*a*a*a*a*a*b}|${V#*a*a*a*a*a*a*a*a*a}|${V%%a*a*a*a*a*a*a*a*b}"
    result, missing = substitute(text, {"V": value})
    assert result == f"{value}|{'a' * (3000 - 9)}|{value}" and missing == []


def test_sourceignore_with_many_stars_is_linear(tmp_path: Path) -> None:
    rules = IgnoreRules(parse_lines("*a*a*a*a*a*a*a*a*b\n*a*a*a*a*a*a*a*a*a\n"))
    assert rules("dir/" + "a" * 200, False)
    assert not rules("dir/" + "a" * 200 + "c", False)


def test_a_semver_range_built_to_backtrack_is_refused_at_once() -> None:
    manifest = f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: app, namespace: flux-system}}
spec:
  interval: 1m
  url: https://example.com/app.git
  ref: {{semver: "v{"0|" * 400}!"}}
"""
    with pytest.raises(SpecError, match=r"GitRepository/flux-system/app field spec\.ref\.semver"):
        load_manifests(manifest)


def test_a_duration_of_thousands_of_digits_is_refused_at_once() -> None:
    with pytest.raises(DurationError, match="missing unit"):
        parse_duration("1" * 20_000)
    assert parse_duration("1" * 5 + "ms").total_seconds() == 11.111


# -- the glob engine against a brute-force reference ----------------------------------------------

_GLOB_CHARS = st.text(alphabet="ab*?[]^\\", max_size=8)


def _reference(pattern: str) -> re.Pattern[str] | None:
    """A small backtracking translation, fine for the short texts below."""
    glob = Glob.parse(pattern)
    if glob is None:
        return None
    return re.compile("".join(".*" if p == "*" else _to_python(p) for p in glob.pieces), re.S)


def _to_python(piece: str) -> str:
    if piece == "(?s:.)":
        return "."
    return re.sub(r"\\x\{([0-9a-f]+)\}", lambda m: re.escape(chr(int(m[1], 16))), piece)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # the reference sees "[[" as a nested set
@settings(max_examples=300, deadline=1000)
@given(pattern=_GLOB_CHARS, text=st.text(alphabet="ab[]^\\*", max_size=10))
def test_glob_prefixes_agree_with_brute_force(pattern: str, text: str) -> None:
    glob, reference = Glob.parse(pattern), _reference(pattern)
    if glob is None or reference is None:
        return
    lengths = [n for n in range(1, len(text) + 1) if reference.fullmatch(text[:n])]
    assert glob.prefix(text, longest=False) == (lengths[0] if lengths else 0)
    assert glob.prefix(text, longest=True) == (lengths[-1] if lengths else 0)
    assert glob.fullmatch(text) == bool(reference.fullmatch(text))
