"""Go's text/template and sprig as Flux runs them: syntax, printing, functions, errors, bounds."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_flux_provider.images import gotemplate
from airflow_flux_provider.images.gotemplate import TemplateError, execute, parse

DATA: dict[str, Any] = {
    "s": "Hello", "n": 3, "f": 1.5, "l": ["a", "b", "c"], "m": {"b": 2, "a": 1}, "e": "", "big": 1234567.0,
}  # fmt: skip

RENDERS = {
    "values print as Go's %v": (
        "{{ .s }} {{ .n }} {{ .f }} {{ .l }} {{ .m }} {{ .missing }} {{ .big }}",
        "Hello 3 1.5 [a b c] map[a:1 b:2] <no value> 1.234567e+06",
    ),
    "number literals": (
        "{{ 1.0 }} {{ 0x10 }} {{ 010 }} {{ 'a' }} {{ -3 }} {{ 1e6 }} {{ 100000.0 }} {{ 1e21 }} "
        "{{ 0.00001 }} {{ 1_000 }}",
        "1 16 8 97 -3 1e+06 100000 1e+21 1e-05 1000",
    ),
    "printf verbs, flags and widths": (
        '{{ printf "%s-%d-%5.2f|%-4s|%04d|%x|%X|%o|%b|%q|%v|%T|%t|%c|%U|%e|%g|%%" '
        '.s .n .f "ab" 7 255 255 8 5 "a\\"b" .l .m true 65 65 1234.5 0.000012 }}',
        'Hello-3- 1.50|ab  |0007|ff|FF|10|101|"a\\"b"|[a b c]|map[string]interface {}|true|A|U+0041|'
        "1.234500e+03|1.2e-05|%",
    ),
    "printf in-band errors": (
        '{{ printf "%d" "x" }} {{ printf "%s" }} {{ printf "%s" "a" "b" }} {{ printf "%!" }}',
        "%!d(string=x) %!s(MISSING) a%!(EXTRA string=b) %!!(MISSING)",
    ),
    "printf argument indexes and star widths": (
        '{{ printf "%[2]s %[1]s" "a" "b" }}|{{ printf "%*d|%.*f|%-*d|" 4 7 2 3.14159 -3 1 }}|{{'
        ' printf "%s %" "x" }}',
        "b a|   7|3.14|1  ||x %!(NOVERB)",
    ),
    "print and println spacing": ('{{ print 1 2 "a" 3 }}|{{ println "a" 1 }}|', "1 2a3|a 1\n|"),
    "pipelines and parentheses": (
        '{{ .s | lower | upper }} {{ (.s | lower) }} {{ lower (printf "%sX" .s) }} {{ (index .l'
        " 1) | upper }}",
        "HELLO hello hellox B",
    ),
    "variables, assignment, range with continue": (
        "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}"
        "{{ range $i, $v := .l }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ $v }}{{ end }}",
        "20a2c",
    ),
    "range over an int, break, else": (
        '{{ range 3 }}{{ . }}{{ end }} {{ range .l }}{{ if eq . "b" }}{{ break }}{{ end }}{{ . }}{{ end }}'
        " {{ range .none }}x{{ else }}none{{ end }}",
        "012 a none",
    ),
    "map ranges in sorted key order": ("{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}", "a=1;b=2;"),
    "with, else with, if, else if": (
        "{{ with .e }}x{{ else with .s }}[{{ . }}]{{ end }} {{ if .e }}a{{ else if .n }}b{{ els"
        "e }}c{{ end }}",
        "[Hello] b",
    ),
    "define, template, block": (
        '{{ define "x" }}<{{ . }}>{{ end }}{{ template "x" .s }}{{ block "y" .n }}({{ . }}){{ end }}',
        "<Hello>(3)",
    ),
    "whitespace trimming and comments": (
        '  {{- " trimmed " -}}  \n {{/* comment */}}x{{- /* c2 */ -}} y',
        " trimmed xy",
    ),
    "builtins": (
        '{{ index .m "a" }} {{ index .l 1 }} {{ len .s }} {{ and 1 0 }} {{ or 0 "" "z" }} {{ not .e }}'
        ' {{ eq .n 1 2 3 }} {{ ne .s "x" }} {{ lt 1 2 }} {{ ge 2.5 2.5 }}',
        "1 b 5 0 z true true true true true",
    ),
    "escapers": (
        '{{ html "<a href=\'x\'>&" }} {{ js "a\'b<" }} {{ urlquery "a b&c" }}',
        "&lt;a href=&#39;x&#39;&gt;&amp; a\\'b\\u003C a+b%26c",
    ),
    "sprig strings": (
        '{{ default "d" .e }} {{ default "d" .s }} {{ trunc 3 .s }} {{ sha256sum "x" | trunc 8 '
        '}} {{ join "," .l }}'
        ' {{ upper "ß" }} {{ title "hello world-x" }} {{ substr 1 3 "hello" }} {{ repeat 3 "ab" }}'
        ' {{ replace "a" "b" "aaa" }} {{ trimSuffix "-x" "a-x" }} {{ contains "ell" .s }}',
        "d Hello Hel 2d711642 a,b,c ß Hello World-X el ababab bbb a true",
    ),
    "sprig quoting and layout": (
        '{{ quote "a" 1 }} {{ squote "b" }} {{ cat "a" 1 nil "b" }} {{ indent 2 "x\\ny" }}|{{ n'
        'indent 1 "z" }}'
        '|{{ wrap 5 "hello world foo" }}|{{ abbrev 5 "hello world" }}|{{ initials "First Try" }}',
        '"a" "1" \'b\' a 1 b   x\n  y|\n z|hello\nworld\nfoo|he...|FT',
    ),
    "sprig case converters": (
        '{{ snakecase "FirstName" }} {{ snakecase "HTTPServer" }} {{ camelcase "http_server" }}'
        ' {{ kebabcase "FooBar" }}',
        "first_name http_server HttpServer foo-bar",
    ),
    "sprig numbers": (
        "{{ add 1 2 3 }} {{ sub 5 7 }} {{ div -7 2 }} {{ mod -7 2 }} {{ mul 2 3 }} {{ addf 1.1 2.2 }}"
        ' {{ max 1 9 3 }} {{ round 2.344 2 }} {{ int "0x10" }} {{ int64 "010" }} {{ atoi "x" }}'
        ' {{ float64 "1_5" }}',
        "6 -2 -3 -1 6 3.3 9 2.34 16 8 0 15",
    ),
    "sprig lists and dicts": (
        '{{ list 1 "a" | toJson }} {{ until 3 }} {{ seq 3 }} {{ splitList "," "a,b" }} {{ (spli'
        't "," "a,b")._1 }}'
        ' {{ first .l }} {{ last .l }} {{ rest .l }} {{ uniq (list 1 1 2) }} {{ has "b" .l }} {'
        '{ without .l "a" }}'
        ' {{ (dict "a" 1 "b" 2) | keys | sortAlpha }} {{ pluck "a" (dict "a" 1) (dict "b" 2) }}'
        ' {{ get (dict "k" "v") "k" }} {{ dig "a" "b" "def" (dict "a" (dict "b" "deep")) }}',
        '[1,"a"] [0 1 2] 1 2 3 [a b] b a c [b c] [1 2] true [b c] [a b] [1] v deep',
    ),
    "sprig JSON": (
        '{{ dict "a" 1 "b" "<x>" | toJson }} {{ dict "b" "<x>" | toRawJson }} {{ (fromJson "{'
        '\\"a\\":1}").a }}'
        ' {{ dict "a" 1 | toPrettyJson }}',
        '{"a":1,"b":"\\u003cx\\u003e"} {"b":"<x>"} 1 {\n  "a": 1\n}',
    ),
    "sprig types and defaults": (
        '{{ ternary "y" "n" true }} {{ empty .e }} {{ coalesce .e "" "z" }} {{ typeOf .l }} {{ kindOf .m }}'
        ' {{ kindIs "string" .s }} {{ all 1 .e }} {{ any 0 .s }} {{ compact (list 1 0 "" 2) }}',
        "y true z []interface {} map true false true [1 2]",
    ),
    "sprig regular expressions": (
        '{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }} {{ regexFindAll "[0-9]+" "a1b22c333" -1 }}'
        ' {{ regexSplit "a" "banana" -1 }} {{ regexMatch "^H" .s }} {{ regexFind "l+" .s }}',
        "-W-xxW- [1 22 333] [b n n ] true ll",
    ),
    "sprig semver uses the project's one semver": (
        '{{ semver "1.2.3-rc.1" | toString }} {{ (semver "v2025.02.03").Minor }} {{ semverCompa'
        're ">=1.0" "1.2.0" }}'
        ' {{ semverCompare "^1" "2.0.0" }}',
        "1.2.3-rc.1 2 true false",
    ),
    "sprig paths, encodings, durations": (
        '{{ base "/a/b.txt" }} {{ dir "/a/b.txt" }} {{ ext "x.tar.gz" }} {{ clean "//a/../b/" }'
        '} {{ b64enc "hi" }}'
        ' {{ b64dec "aGk=" }} {{ b32enc "hi" }} {{ duration 3725 }} {{ plural "one" "many" 2 }}'
        ' {{ (urlParse "https://u@h:1/p?q=1#f").hostname }}',
        "b.txt /a .gz /b aGk= hi NBUQ==== 1h2m5s many h",
    ),
}


@pytest.mark.parametrize(("template", "expected"), RENDERS.values(), ids=RENDERS.keys())
def test_renders_as_go(template: str, expected: str) -> None:
    assert execute(parse(template), DATA) == expected


FAILS = {
    "unknown function": ("{{ nope }}", 'function "nope" not defined'),
    "undefined variable": ("{{ $x }}", 'undefined variable "$x"'),
    "assignment to an undeclared variable": ("{{ $x = 1 }}", 'undefined variable "$x"'),
    "variable out of scope after end": (
        "{{ if 1 }}{{ $v := 1 }}{{ end }}{{ $v }}",
        'undefined variable "$v"',
    ),
    "field of a string": ("{{ .s.x }}", "can't evaluate field x in type string"),
    "wrong argument type": ("{{ lower 3 }}", "expected string; found 3"),
    "wrong value type": ("{{ lower .n }}", "wrong type for value; expected string; got int"),
    "wrong argument count": ("{{ lower }}", "wrong number of args for lower: want 1 got 0"),
    "constant in a later stage": ("{{ 1 | 2 }}", "non executable command in pipeline stage 2"),
    "stray end": ("{{ end }}", "unexpected {{end}}"),
    "if without pipeline": ("{{ if }}", "missing value for command"),
    "unterminated range": ("{{ range .l }}", "unexpected EOF"),
    "break outside range": ("{{ break }}", "{{break}} outside {{range}}"),
    "argument to a constant": ('{{"a" "b"}}', 'can\'t give argument to non-function "a"'),
    "argument to a map key": ("{{ .s 1 }}", "s is not a method but has arguments"),
    "nil command": ("{{ nil }}", "nil is not a command"),
    "range over a string": ("{{ range .s }}{{end}}", "range can't iterate over Hello"),
    "index out of range": ("{{ index .l 10 }}", "error calling index: index out of range: 10"),
    "comparing lists": ("{{ eq .l .l }}", "error calling eq: non-comparable type []interface {}"),
    "comparing int and string": ('{{ lt 1 "a" }}', "error calling lt: incompatible types for comparison"),
    "fail": ('{{ fail "boom" }}', "error calling fail: boom"),
    "random values": (
        "{{ randInt 1 2 }}",
        "randInt is not available in commit messages here: it draws random",
    ),
    "unclosed comment": ("{{/* x }}", "unclosed comment"),
    "comment not alone": ("{{/* x */ .s }}", "comment ends before closing delimiter"),
    "bad number": ("{{ 08 }}", 'illegal number syntax: "08"'),
    "integer overflow": ("{{ 99999999999999999999 }}", "integer overflow"),
    "unclosed paren": ("{{ (lower .s }}", "unclosed left paren"),
    "define inside a body": ('{{ if 1 }}{{ define "x" }}{{ end }}{{ end }}', "unexpected {{define}}"),
}


@pytest.mark.parametrize(("template", "needle"), FAILS.values(), ids=FAILS.keys())
def test_fails_as_go_does(template: str, needle: str) -> None:
    with pytest.raises(TemplateError) as info:
        execute(parse(template), DATA)
    assert needle in info.value.message
    assert info.value.message.startswith("template: commit message:1: ")


BOUNDS = {
    "recursive template": (
        '{{ define "r" }}{{ template "r" }}{{ end }}{{ template "r" }}',
        "maximum template depth",
    ),
    "huge range": ("{{ range 2000000 }}{{ end }}", "runs more than 1000000 steps"),
    "huge repeat": ('{{ repeat 1000000 "abc" }}', "too large for a commit message"),
    "huge until": ("{{ until 100000000 }}", "too large for a commit message"),
    "huge output": ('{{ range 30000 }}{{ "x" | repeat 40 }}{{ end }}', "longer than 1048576 characters"),
    "deep parentheses": ("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "max expression depth exceeded"),
    "deep blocks": ("{{ if 1 }}" * 2000 + "{{ end }}" * 2000, "nested too deeply"),
}


@pytest.mark.parametrize(("template", "needle"), BOUNDS.values(), ids=BOUNDS.keys())
def test_hostile_templates_stop_with_a_clear_error(template: str, needle: str) -> None:
    with pytest.raises(TemplateError) as info:
        execute(parse(template), DATA)
    assert needle in info.value.message


def test_printf_refuses_huge_widths_in_band() -> None:
    """fmt stops at a width past ten million, and refuses star widths past a million."""
    assert execute(parse('{{ printf "%123456789d|%d" 1 2 }}'), DATA) == "%!(NOVERB)%!(EXTRA int=1, int=2)"
    assert (
        execute(parse('{{ printf "%*d|%.*f" 2000000 1 2000000 2.5 }}'), DATA)
        == "%!(BADWIDTH)1|%!(BADPREC)2.500000"
    )


def test_the_function_map_is_sprigs_hermetic_map_plus_go_builtins() -> None:
    names = set(gotemplate.FUNCTIONS)
    assert {"printf", "println", "index", "slice", "lower", "toJson", "sha256sum", "semverCompare"} <= names
    assert not names & {
        "env",
        "expandenv",
        "now",
        "date",
        "uuidv4",
        "randAlphaNum",
        "getHostByName",
        "randBytes",
    }
    assert len(names) >= 200
