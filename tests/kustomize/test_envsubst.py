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


# Globs, escapes, operator lengths and integer bounds, each as fluxcd/pkg envsubst v1.7.0 reads them.
GRAMMAR = [
    # ${v#glob} and friends use Go's path.Match: ?, [...] classes ("!" is no negation there), *
    ({"f": "01_name_02.txt"}, "${f#[0-9]*_}", "name_02.txt"),
    ({"f": "01_name_02.txt"}, "${f##[0-9]*_}", "02.txt"),
    ({"f": "01_name_02.txt"}, "${f#?}", "1_name_02.txt"),
    ({"f": "01_name_02.txt"}, "${f##??}", "_name_02.txt"),
    ({"f": "01_name_02.txt"}, "${f#[!0-9]}", "1_name_02.txt"),
    ({"f": "01_name_02.txt"}, "${f%.???}", "01_name_02"),
    ({"f": "01_name_02.txt"}, "${f%%_*}", "01"),
    ({"f": "01_name_02.txt"}, "${f%?}", "01_name_02.tx"),
    ({"v": "abcdef"}, "${v#*}", "bcdef"),  # a lone star takes at least one character
    ({"v": "abcdef"}, "${v%*}", "abcde"),
    ({"v": "abcdef"}, "${v##*}", ""),
    # an operator is one or two characters; a third starts the argument
    ({"a": "#bc"}, "${a###b}", "c"),
    ({"b": "ab%b"}, "${b%%%b}", "ab"),
    # replace arguments: $$ is a literal $, \/ a slash, \\ a backslash; elsewhere $$ stays $$
    ({"p": "5$"}, "${p/$$/USD}", "5USD"),
    ({"s": "a//b"}, r"${s/\/\//-}", "a-b"),
    ({"s": "a/b\\c"}, r"${s/\\/+}", "a/b+c"),
    ({"x": ""}, "${x:-a$$b}", "a$$b"),
    ({"w": "abc"}, "${w/$${a}/x}", "abc"),
    # replace: prefix/suffix forms need a replacement argument; the others may drop it
    ({"w": "abc"}, "${w/#a/}", "abc"),
    ({"w": "abc"}, "${w/%c/}", "abc"),
    ({"w": "abc"}, "${w/#/x}", "xabc"),
    ({"w": "abc"}, "${w/%/x}", "abcx"),
    ({"w": "abcb"}, "${w//b/}", "ac"),
    ({"w": "abcb"}, "${w/b/}", "acb"),
    ({"w": "abcb"}, "${w/b/-}", "a-cb"),
    # offsets and lengths are bytes, bounded by int64 as Go's strconv.Atoi reads them
    ({"w": "abc"}, "${w:1:2}", "bc"),
    ({"w": "abc"}, "${w:2:1}", "c"),
    ({"w": "abc"}, "${w:0:2}", "ab"),
    ({"w": "abc"}, "${w:3:0}", ""),
    ({"w": "abc"}, "${w:9223372036854775807}", ""),
    ({"w": "abc"}, "${w:9223372036854775808}", "abc"),  # beyond int64: Atoi fails, the value is kept
    ({"u": "héllo"}, "${#u}", "6"),
    ({"u": "héllo"}, "${u:3}", "llo"),
    # escapes belong to replace arguments only; text after an expression is kept
    ({"x": ""}, r"${x:-a\/b}", r"a\/b"),
    ({"w": "abc"}, "${w:1}x", "bcx"),
    ({"w": "abc"}, "${w/b/}!", "ac!"),
    # one default operator; what follows it is the default text
    ({}, "${v==x}", "=x"),
    ({}, "${v:-:x}", ":x"),
    ({}, "${v:--x}", "-x"),
    # a zero length is an empty string, not an error; a cut through a character is U+FFFD
    ({"w": "abc"}, "${w:1:0}", ""),
    ({"u": "héllo"}, "${u:2}", "\ufffdllo"),
    ({"u": "héllo"}, "${u:1:1}", "\ufffd"),
    ({"u": "héllo"}, "${u:2:9}", "\ufffdllo"),
    # not strict unless asked: a missing name is empty
    ({}, "${missing}", ""),
    # $ alone and $$ at top level
    ({}, "$$$", "$$"),
    ({}, "a$", "a$"),
    ({"v": "x"}, "${v^^}${v}", "Xx"),
]


@pytest.mark.parametrize(("variables", "text", "expected"), GRAMMAR)
def test_grammar_details(variables: dict[str, str], text: str, expected: str) -> None:
    assert substitute(text, variables) == (expected, [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${a}${b:}", "unable to parse substitution within function near '${b:}'"),
        ("${a}${w-}", "missing closing brace near '${w-'"),
        ("${a-b}", "missing closing brace near '${a-'"),
        ("x ${a:b:}", "unable to parse substitution within function near '${a:b:}'"),
        ("${a:1x", "bad substitution near '${a:1x'"),
        ("${a,b}", "bad substitution near '${a,b'"),
        ("${a^^^}", "bad substitution near '${a^^^'"),
        ("${a,,,}", "bad substitution near '${a,,,'"),
        ("a${b${c}", "missing closing brace near '${b$'"),
        ("line1\n${a", "missing closing brace near '${a'"),
        ("${#a", "bad substitution near '${#a'"),
        ("${a/}", "bad substitution near '${a/}'"),
        ("${a//b}", "bad substitution near '${a//b}'"),
        ("${a/#}", "bad substitution near '${a/#}'"),
        ("${a::2}", "unable to parse substitution within function near '${a::'"),
        ("${a%}", "unable to parse substitution within function near '${a%}'"),
        ("${a##}", "unable to parse substitution within function near '${a##}'"),
        ("${a:=x", "unable to parse substitution within function near '${a:=x'"),
        ("abc${", "unable to parse variable name near '${'"),
        ("${a?x}", "missing closing brace near '${a?'"),
        ("${a+x}", "missing closing brace near '${a+'"),
        (
            "${a:0:-9223372036854775808}",
            "substring length -9223372036854775808 is negative (slice bounds out of range "
            "[0:-9223372036854775808]); Flux's envsubst has no bash-style negative length",
        ),
    ],
)
def test_errors_quote_the_expression(text: str, message: str) -> None:
    with pytest.raises(EnvsubstError) as info:
        substitute(text, {"a": "abc"})
    assert str(info.value) == message


def test_strict_mode_treats_every_default_operator_as_a_guard() -> None:
    text = "${a:+x}${b:-y}${c:=z}${d:?w}${e=v}${f}${g,,}${f}"
    assert substitute(text, {}, strict=True) == ("xyzwv", ["f", "g"])
    assert substitute("${a:+x}", {"a": "set"}, strict=True) == ("set", [])
