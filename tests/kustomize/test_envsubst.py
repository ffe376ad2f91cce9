"""Flux's envsubst grammar: the upstream test vectors plus the quirks users meet."""

from __future__ import annotations

import pytest

from airflow_flux_provider.kustomize.envsubst import substitute
from airflow_flux_provider.kustomize.errors import EnvsubstError

# Cases beyond upstream's own tests (those are in tests/kustomize/upstream/test_envsubst.py),
# each checked against fluxcd/pkg envsubst v1.7.0's code.
VECTORS = [
    ({"p": "abc"}, "${p:9}", ""),
    ({"p": "abc"}, "${p:x}", "abc"),  # Atoi fails: the value is kept
    ({"A": "abcdef"}, "${A: -2}", "abcdef"),  # " -2" is no Go integer (bash would give "ef")
    ({"A": "abcdef"}, "${A:+3}", "abcdef"),  # ":+" is a default operator, never an offset
    ({"A": "abcdef"}, "${A:1_0}", "abcdef"),  # Python's int() takes "1_0", Go's Atoi does not
    ({"A": "abcdef"}, "${A:1:99999999999999999999}", "abcdef"),  # length overflows int64: kept
    ({"A": "abcdef"}, "${A:8:-1}", ""),  # offset and negative length past the end: empty
    ({"var": ""}, "${var:-xyz}", "xyz"),
    ({}, "${var:+xyz} ${var:?xyz}", "xyz xyz"),
    ({"z": "abcABC123ABCabc"}, "${z/abc/}", "ABC123ABCabc"),
    ({"HOME": "/root"}, "$HOME and $ alone", "$HOME and $ alone"),
    ({"ß": "straße"}, "${ß^^}", "STRAßE"),  # Go maps rune to rune: ß has no one-rune upper case
    ({"v": "İX"}, "${v,,}", "ix"),
    ({"x²": "no"}, "${x²}", ""),  # ² is no Go digit: the name ends at x and the brace is missing
]


@pytest.mark.parametrize(("variables", "text", "expected"), VECTORS[:-1])
def test_flux_semantics(variables: dict[str, str], text: str, expected: str) -> None:
    assert substitute(text, variables) == (expected, [])


def test_non_identifier_names_end_the_name_as_in_go() -> None:
    with pytest.raises(EnvsubstError, match="missing closing brace"):
        substitute("${x²}", {"x²": "no"})
    assert substitute("${ünïcödé_٣}", {"ünïcödé_٣": "ok"}) == ("ok", [])  # letters and Nd digits
    with pytest.raises(EnvsubstError, match="missing closing brace"):
        substitute("${a.b}", {"a": "1"})


def test_negative_substring_length_fails_as_flux_does() -> None:
    """bash would print "bcde"; fluxcd/pkg slices out of range and the reconcile fails."""
    with pytest.raises(EnvsubstError, match="substring length -1 is negative"):
        substitute("${A:1:-1}", {"A": "abcdef"})


def test_strict_reports_absent_not_empty_and_spares_defaults() -> None:
    out, missing = substitute("${a} ${b} ${c:=x} ${d^^} ${e=y} ${a}", {"b": ""}, strict=True)
    assert out == "  x  y "
    assert missing == ["a", "d"]
    assert substitute("${a}", {}, strict=False) == ("", [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${a", "missing closing brace near '${a'"),
        ("${}", "unable to parse variable name"),
        ("${a-b}", "missing closing brace"),  # Flux needs ':' or '=' before a default
        ("${a:}", "unable to parse substitution within function"),
        ("${a/b}", "bad substitution"),
        ("${#}", "bad substitution"),
    ],
)
def test_syntax_errors_use_envsubst_wording(text: str, message: str) -> None:
    with pytest.raises(EnvsubstError, match=message.replace("$", r"\$").replace("{", r"\{")):
        substitute(text, {"a": "1"})
