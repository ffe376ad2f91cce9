"""Flux's envsubst grammar: the upstream test vectors plus the quirks users meet."""

from __future__ import annotations

import pytest

from airflow_flux_provider.kustomize.envsubst import substitute
from airflow_flux_provider.kustomize.errors import EnvsubstSyntaxError

VECTORS = [
    ({"var01": "abcdEFGH28ij"}, "${#var01}", "12"),
    ({"var01": "abcdEFGH28ij"}, "${var01^}", "AbcdEFGH28ij"),
    ({"var01": "abcdEFGH28ij"}, "${var01^^}", "ABCDEFGH28IJ"),
    ({"var01": "ABCDEFGH28IJ"}, "${var01,}", "aBCDEFGH28IJ"),
    ({"var01": "ABCDEFGH28IJ"}, "${var01,,}", "abcdefgh28ij"),
    ({"p": "/home/bozo/ideas/thoughts.for.today"}, "${p:11}", "ideas/thoughts.for.today"),
    ({"p": "/home/bozo/ideas/thoughts.for.today"}, "${p:11:5}", "ideas"),
    ({"p": "abc"}, "${p:9}", ""),
    ({"p": "abc"}, "${p:x}", "abc"),
    ({"var": "abc"}, "${var=xyz}", "abc"),
    ({}, "${var=xyz}", "xyz"),
    ({}, "${var:=xyz}", "xyz"),
    ({"var": ""}, "${var:-xyz}", "xyz"),
    ({}, "${var:+xyz} ${var:?xyz}", "xyz xyz"),
    ({"default_var": "foo"}, "something ${var=${default_var}}", "something foo"),
    ({"default_var": "foo1"}, "foo: ${var=prefix${default_var}-suffix}", "foo: prefixfoo1-suffix"),
    ({"z": "abcABC123ABCabc"}, "${z/%abc/XYZ}", "abcABC123ABCXYZ"),
    ({"z": "abcABC123ABCabc"}, "${z/#abc/XYZ}", "XYZABC123ABCabc"),
    ({"z": "abcABC123ABCabc"}, "${z//abc/xyz}", "xyzABC123ABCxyz"),
    ({"z": "abcABC123ABCabc"}, "${z/abc/xyz}", "xyzABC123ABCabc"),
    ({"z": "abcABC123ABCabc"}, "${z/abc/}", "ABC123ABCabc"),
    ({"f": "bash.string.txt"}, "${f#*.}", "string.txt"),
    ({"f": "bash.string.txt"}, "${f##*.}", "txt"),
    ({"f": "bash.string.txt"}, "${f%.*}", "bash.string"),
    ({"f": "bash.string.txt"}, "${f%%.*}", "bash"),
    ({"f": "/path/to/file"}, "${f#*/}", "path/to/file"),
    ({"f": "/path/to/file"}, "${f##*/}", "file"),
    ({"var01": "abcdEFGH28ij"}, "$${var01}", "${var01}"),
    (
        {"var01": "abcdEFGH28ij"},
        "some text ${var01}$${var$${var01}$var01${var01}",
        "some text abcdEFGH28ij${var${var01}$var01abcdEFGH28ij",
    ),
    ({"default_var": "foo"}, "something $${var=${default_var}}", "something ${var=foo}"),
    ({"z": "foo/bar"}, r"${z/\//-}", "foo-bar"),
    ({"z": "foo/bar/baz"}, r"${z//\//-}", "foo-bar-baz"),
    ({"z": "foo.bar"}, "${z/./}", "foobar"),
    ({"HOME": "/root"}, "$HOME and $ alone", "$HOME and $ alone"),
]


@pytest.mark.parametrize(("variables", "text", "expected"), VECTORS)
def test_upstream_vectors(variables: dict[str, str], text: str, expected: str) -> None:
    assert substitute(text, variables) == (expected, [])


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
    with pytest.raises(EnvsubstSyntaxError, match=message.replace("$", r"\$").replace("{", r"\{")):
        substitute(text, {"a": "1"})
