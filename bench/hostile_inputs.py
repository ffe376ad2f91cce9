"""Worst-case inputs from the trust review (issue 16) take time linear in their size.

Each case is run on an input of size n and of size 2n in the same run; a linear algorithm
roughly doubles (ratio ~2), a quadratic one quadruples, a backtracking one explodes. The
goal is a ratio of at most 3 for every case. The sizes are far past where Python's
backtracking ``re`` took seconds (a 40-character value, an 888-byte manifest).

Run: .venv/bin/python bench/hostile_inputs.py [--size N] [--repeat N]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import time
from collections.abc import Callable
from typing import Any

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.images.policy import TagFilter
from airflow_flux_provider.images.registry import exclude
from airflow_flux_provider.images.template import TemplateError, parse
from airflow_flux_provider.kustomize.envsubst import substitute
from airflow_flux_provider.sources.ignore import IgnoreRules, parse_lines
from airflow_flux_provider.specs import SpecError, load_manifests
from airflow_flux_provider.specs.duration import DurationError, parse_duration
from flux_devkit.sandbox.status import ApiError
from flux_devkit.sandbox.verbs import decode_body

GOAL = 3.0


Step = Callable[[], object]


def _semver_manifest(n: int) -> Step:
    text = (
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
        "metadata: {name: app, namespace: flux-system}\n"
        f'spec: {{interval: 1m, url: "https://example.com/a.git", ref: {{semver: "v{"0|" * n}!"}}}}\n'
    )
    return lambda: _refused(SpecError, load_manifests, text)


def _duration(n: int) -> Step:
    return functools.partial(_refused, DurationError, parse_duration, "1" * n)


def _filter_tags(n: int) -> Step:
    return functools.partial(TagFilter(r"^(a+)+$").apply, ["a" * n + "!"])


def _exclusion_list(n: int) -> Step:
    return functools.partial(exclude, ["a" * n + "!"], [r"^(a|aa)+$", r"(a+a+)+b"])


def _envsubst_globs(n: int) -> Step:
    return functools.partial(substitute, "${V##*a*a*a*a*a*a*a*a*b}${V%%a*a*a*a*a*a*a*a*b}", {"V": "a" * n})


def _sourceignore(n: int) -> Step:
    rules, name = IgnoreRules(parse_lines("*a*a*a*a*a*a*a*a*b\n")), "dir/" + "a" * n
    return lambda: [rules(name, False) for _ in range(10)]


def _commit_template(n: int) -> Step:
    # An action of blanks is refused; what counts is how long finding that out takes.
    return functools.partial(_refused, TemplateError, parse, "{{" + " " * n + "}}")


def _alias_bomb(levels: int) -> str:
    """``levels`` anchors, each a list of nine aliases of the one before: 9**levels strings."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _manifest_alias_bomb(n: int) -> Step:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + "".join(
        f"  {line}\n" for line in _alias_bomb(n).splitlines()
    )
    return functools.partial(_refused, SpecError, load_manifests, text)


def _sandbox_alias_bomb(n: int) -> Step:
    body = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\n" + _alias_bomb(n)).encode()
    return functools.partial(_refused, ApiError, lambda raw: decode_body(raw, "application/yaml"), body)


def _error_message(n: int) -> Step:
    # Every FluxError message goes through URL redaction; this one quotes a value of colons.
    return functools.partial(FluxError, "bad value " + "a:" * n, obj="GitRepository/ns/app")


def _refused(error: type[Exception], parse: Callable[[Any], object], text: Any) -> None:
    with contextlib.suppress(error):
        parse(text)


CASES: dict[str, tuple[Callable[[int], Step], int]] = {
    # name: (build the step for an input of size n, n at --size 1)
    # The refusal quotes the range, so its cost is mostly redacting a 128 KB message: RE2 again.
    "semver range 'v0|0|…!'": (_semver_manifest, 64_000),
    "duration '1111…'": (_duration, 20000),
    # RE2 picks its engine by text size (one from 64k characters on), and the binding copies the
    # text (mmap-backed past 128 KiB): both n and 2n sit above those thresholds.
    "filterTags (a+)+$": (_filter_tags, 300_000),
    "exclusionList (a|aa)+$": (_exclusion_list, 300_000),
    "envsubst ${V##*a*a…b}": (_envsubst_globs, 20000),
    ".sourceignore *a*a…b": (_sourceignore, 20000),
    "commit template blanks": (_commit_template, 20000),
    "error message quoting 'a:a:…'": (_error_message, 100_000),
    # 9**n strings in n lines: refused once the walk passes the text's own size.
    "manifest YAML alias bomb": (_manifest_alias_bomb, 2000),
    "sandbox YAML alias bomb": (_sandbox_alias_bomb, 2000),
}


def best_of_interleaved(repeat: int, small: Step, large: Step) -> tuple[float, float]:
    """Best time of each, running them in turn so that a load change hits both alike."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for index, step in enumerate((small, large)):
            start = time.perf_counter()
            step()
            best[index] = min(best[index], time.perf_counter() - start)
    return best[0], best[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=1.0, help="scale every case's n")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(f"{'case':32} {'n':>8} {'t(n) ms':>9} {'t(2n) ms':>9} {'ratio':>6}  goal <= {GOAL}")
    failed = False
    for name, (build, base) in CASES.items():
        n = max(1, int(base * args.size))
        small, large = build(n), build(2 * n)
        small()  # warm caches (compiled patterns, imports)
        one, two = best_of_interleaved(args.repeat, small, large)
        ratio = two / one if one > 0 else float("inf")
        ok = ratio <= GOAL
        failed |= not ok
        print(
            f"{name:32} {n:>8} {one * 1000:>9.2f} {two * 1000:>9.2f} {ratio:>6.2f}  {'ok' if ok else 'SLOW'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
