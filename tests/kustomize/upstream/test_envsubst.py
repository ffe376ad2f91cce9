"""fluxcd/pkg ``envsubst`` v1.7.0: ``eval_test.go`` (TestExpand, TestExpandStrict),
``funcs_test.go`` and ``parse/parse_test.go``, case for case."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_flux_provider.kustomize.envsubst import Expr, Node, apply, parse, substitute

# eval_test.go TestExpand: params, input, output (every variable counts as set).
EXPAND = [
    ({}, "abcdEFGH28ij", "abcdEFGH28ij"),
    ({"var01": "abcdEFGH28ij"}, "${#var01}", "12"),
    ({"var01": "abcdEFGH28ij"}, "${var01^}", "AbcdEFGH28ij"),
    ({"var01": "abcdEFGH28ij"}, "${var01^^}", "ABCDEFGH28IJ"),
    ({"var01": "ABCDEFGH28IJ"}, "${var01,}", "aBCDEFGH28IJ"),
    ({"var01": "ABCDEFGH28IJ"}, "${var01,,}", "abcdefgh28ij"),
    ({"path_name": "/home/bozo/ideas/thoughts.for.today"}, "${path_name:11}", "ideas/thoughts.for.today"),
    ({"path_name": "/home/bozo/ideas/thoughts.for.today"}, "${path_name:11:5}", "ideas"),
    ({"var": "abc"}, "${var=xyz}", "abc"),
    ({}, "${var=xyz}", "xyz"),
    ({"default_var": "foo"}, "something ${var=${default_var}}", "something foo"),
    ({"default_var": "foo1"}, "foo: ${var=${default_var}-suffix}", "foo: foo1-suffix"),
    ({"default_var": "foo1"}, "foo: ${var=prefix${default_var}-suffix}", "foo: prefixfoo1-suffix"),
    ({}, "${var:=xyz}", "xyz"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ/%abc/XYZ}", "abcABC123ABCXYZ"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ/#abc/XYZ}", "XYZABC123ABCabc"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ//abc/xyz}", "xyzABC123ABCxyz"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ/abc/xyz}", "xyzABC123ABCabc"),
    ({"filename": "bash.string.txt"}, "${filename#*.}", "string.txt"),
    ({"filename": "path/to/file"}, "${filename#*/}", "to/file"),
    ({"filename": "/path/to/file"}, "${filename#*/}", "path/to/file"),
    ({"filename": "bash.string.txt"}, "${filename##*.}", "txt"),
    ({"filename": "path/to/file"}, "${filename##*/}", "file"),
    ({"filename": "/path/to/file"}, "${filename##*/}", "file"),
    ({"filename": "bash.string.txt"}, "${filename%.*}", "bash.string"),
    ({"filename": "bash.string.txt"}, "${filename%%.*}", "bash"),
    ({"var01": "abcdEFGH28ij"}, "${var=${var01^^}}", "ABCDEFGH28IJ"),
    ({"var01": "abcdEFGH28ij"}, "$${var01}", "${var01}"),
    (
        {"var01": "abcdEFGH28ij"},
        "some text ${var01}$${var$${var01}$var01${var01}",
        "some text abcdEFGH28ij${var${var01}$var01abcdEFGH28ij",
    ),
    ({"default_var": "foo"}, "something $${var=${default_var}}", "something ${var=foo}"),
    ({"stringZ": "foo/bar"}, r"${stringZ/\//-}", "foo-bar"),
    ({"stringZ": "foo/bar/baz"}, r"${stringZ//\//-}", "foo-bar-baz"),
    ({"default_var": "foo"}, "\\\\something ${var=${default_var}}", "\\\\something foo"),
    ({"stringZ": "foo.bar"}, "${stringZ/./}", "foobar"),
]


@pytest.mark.parametrize(("params", "text", "expected"), EXPAND, ids=[c[1] for c in EXPAND])
def test_expand(params: dict[str, str], text: str, expected: str) -> None:
    variables = {name: params.get(name, "") for name in _names(parse(text))}  # mapping: always set
    assert substitute(text, variables) == (expected, [])


# eval_test.go TestExpandStrict: params, input, output, whether "variable not set" is reported.
EXPAND_STRICT = [
    ({}, "abcdEFGH28ij", "abcdEFGH28ij", False),
    ({"foo": "bar"}, "${foo}", "bar", False),
    ({"foo": ""}, "${foo}", "", False),
    ({}, "${missing}", "", True),
    ({"foo": "bar"}, "${missing:=default}", "default", False),
    *(
        ({}, text, "", True)
        for text in (
            "${#missing}",
            "${missing^}",
            "${missing^^}",
            "${missing,}",
            "${missing,,}",
            "${missing:0}",
            "${missing:0:10}",
            "${missing/pattern/replacement}",
            "${missing//pattern/replacement}",
            "${missing/#pattern/replacement}",
            "${missing/%pattern/replacement}",
            "${missing#pattern}",
            "${missing##pattern}",
            "${missing%pattern}",
            "${missing%%pattern}",
        )
    ),
    ({}, "${missing:-fallback}", "fallback", False),
    ({}, "${missing:=assigned}", "assigned", False),
    ({}, "${missing=assigned}", "assigned", False),
]


@pytest.mark.parametrize(
    ("params", "text", "expected", "unset"), EXPAND_STRICT, ids=[c[1] for c in EXPAND_STRICT]
)
def test_expand_strict(params: dict[str, str], text: str, expected: str, unset: bool) -> None:
    out, missing = substitute(text, params, strict=True)
    assert missing == (["missing"] if unset else [])
    if not unset:  # upstream returns no output with the error; ours reports every name at once
        assert out == expected


# funcs_test.go: function, value, arguments, result.
FUNCS = [
    ("#", "Hello World", [], "11"),
    (",,", "Hello World", [], "hello world"),
    (",", "HELLO WORLD", [], "hELLO WORLD"),
    (",", "", [], ""),
    ("^^", "Hello World", [], "HELLO WORLD"),
    ("^", "hello world", [], "Hello world"),
    ("^", "", [], ""),
    (":=", "Hello World", ["Hola Mundo"], "Hello World"),
    (":=", "", ["Hola Mundo"], "Hola Mundo"),
    (
        ":=",
        "",
        ["Hola Mundo", "-Bonjour le monde", "-Halló heimur"],
        "Hola Mundo" + "-Bonjour le monde-Halló heimur",
    ),
    (":", "123456789123456789", ["0", "8"], "12345678"),
    (":", "123456789123456789", ["1", "8"], "23456789"),
    (":", "123456789123456789", ["9"], "123456789"),
    (":", "123456789123456789", ["9", "50"], "123456789"),
    (":", "123456789123456789", ["-3", "2"], "78"),
    (":", "123456789123456789", ["-300", "3"], "123"),
    (":", "12345678", ["9", "1"], ""),
]


@pytest.mark.parametrize(("op", "value", "args", "expected"), FUNCS)
def test_funcs(op: str, value: str, args: list[str], expected: str) -> None:
    assert apply(op, value, args) == expected


def E(param: str, op: str = "", *args: Any) -> Expr:  # reads like upstream's FuncNode
    return Expr(param, op, list(args))


# parse/parse_test.go: text and the node tree (upstream's nested ListNode flattened to a list).
PARSE: list[tuple[str, list[Node]]] = [
    ("text", ["text"]),
    ("}text", ["}text"]),
    ("http://github.com", ["http://github.com"]),
    ("$${string}", ["${string}"]),
    ("$$string", ["$string"]),
    (r"\\.\pipe\pipename", [r"\\.\pipe\pipename"]),
    ("${string}", [E("string")]),
    ("${string,}", [E("string", ",")]),
    ("${string,,}", [E("string", ",,")]),
    ("${string^}", [E("string", "^")]),
    ("${string^^}", [E("string", "^^")]),
    ("${string:position}", [E("string", ":", "position")]),
    ("${string:position:length}", [E("string", ":", "position", "length")]),
    ("${string#substring}", [E("string", "#", "substring")]),
    ("${string##substring}", [E("string", "##", "substring")]),
    ("${string%substring}", [E("string", "%", "substring")]),
    ("${string%%substring}", [E("string", "%%", "substring")]),
    ("${string/substring/replacement}", [E("string", "/", "substring", "replacement")]),
    ("${string//substring/replacement}", [E("string", "//", "substring", "replacement")]),
    ("${string/#substring/replacement}", [E("string", "/#", "substring", "replacement")]),
    ("${string/%substring/replacement}", [E("string", "/%", "substring", "replacement")]),
    ("${string=default}", [E("string", "=", "default")]),
    ("${string:=default}", [E("string", ":=", "default")]),
    ("${string:-default}", [E("string", ":-", "default")]),
    ("${string:?default}", [E("string", ":?", "default")]),
    ("${string:+default}", [E("string", ":+", "default")]),
    ("${#string}", [E("string", "#")]),
    ("${string#$%:*{}", [E("string", "#", "$%:*{")]),
    ("hello ${#string} world", ["hello ", E("string", "#"), " world"]),
    (r"\\ hello ${#string} world \\", [r"\\ hello ", E("string", "#"), r" world \\"]),
    (r"${string/\/position/length}", [E("string", "/", "/position", "length")]),
    (r"${string/\/position\\/length}", [E("string", "/", "/position\\", "length")]),
    (r"${string/position/\/length}", [E("string", "/", "position", "/length")]),
    (r"${string/position/\/length\\}", [E("string", "/", "position", "/length\\")]),
    (r"${string/position/\/leng\\th}", [E("string", "/", "position", "/leng\\th")]),
    ("${string:${position}}", [E("string", ":", E("position"))]),
    (
        "${string:${stringy:position:length}:${stringz,,}}",
        [E("string", ":", E("stringy", ":", "position", "length"), E("stringz", ",,"))],
    ),
    ("${string#${stringz}}", [E("string", "#", E("stringz"))]),
    ("${string=${stringz}}", [E("string", "=", E("stringz"))]),
    ("${string=prefix-${var}}", [E("string", "=", "prefix-", E("var"))]),
    ("${string=${var}-suffix}", [E("string", "=", E("var"), "-suffix")]),
    ("${string=prefix-${var}-suffix}", [E("string", "=", "prefix-", E("var"), "-suffix")]),
    ("${string=prefix${var} suffix}", [E("string", "=", "prefix", E("var"), " suffix")]),
    ("${string//${stringy}/${stringz}}", [E("string", "//", E("stringy"), E("stringz"))]),
]


@pytest.mark.parametrize(("text", "tree"), PARSE, ids=[c[0] for c in PARSE])
def test_parse(text: str, tree: list[Node]) -> None:
    assert parse(text) == tree


def _names(nodes: list[Node]) -> set[str]:
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, Expr):
            found |= {node.param, *_names(node.args)}
        elif isinstance(node, list):
            found |= _names(node)
    return found
