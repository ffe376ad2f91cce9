"""Mutation testing of one module against its focused tests.

    python -m flux_devkit.mutate airflow_flux_provider/semver.py [--show] [--only 3,17]
    python -m flux_devkit.mutate --all

The focused tests of each module and the equivalent mutants excluded from its score are listed
in ``tests/mutation.toml``. Each module runs in one pytest session (``flux_devkit.mutate.plugin``)
at ``nice`` 15; results are kept in ``.state/mutation/`` and summed up as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from flux_devkit.mutate.mutants import Mutant, list_mutants

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "tests" / "mutation.toml"
STATE = ROOT / ".state" / "mutation"


@dataclass(frozen=True)
class Equivalent:
    """A mutant that behaves like the original, identified by its line's text and change.

    Only mutants that survived are excluded: a killed one stays killed whatever the list says.
    """

    module: str
    line: str
    change: str
    reason: str
    function: str | None = None  # to tell apart equal lines in different functions

    def matches(self, module: str, mutant: Mutant) -> bool:
        return (self.module, self.line, self.change) == (
            module,
            mutant.source_line,
            mutant.change,
        ) and self.function in (None, mutant.function)


@dataclass(frozen=True)
class Row:
    module: str
    mutants: int
    excluded: int
    killed: int
    timeout: int
    survived: int
    uncovered: int
    unapplied: int

    @property
    def score(self) -> float:
        counted = self.mutants - self.excluded
        return 100.0 * (self.killed + self.timeout) / counted if counted else 100.0

    def cells(self) -> list[str]:
        return [self.module, *(str(n) for n in self.counts()), f"{self.score:.1f} %"]

    def counts(self) -> tuple[int, ...]:
        return (
            self.mutants,
            self.excluded,
            self.killed,
            self.timeout,
            self.survived,
            self.uncovered,
            self.unapplied,
        )


HEADER = [
    "module",
    "mutants",
    "equivalent",
    "killed",
    "timeout",
    "survived",
    "uncovered",
    "unapplied",
    "score",
]


def load_config() -> tuple[dict[str, list[str]], list[Equivalent]]:
    data = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    tests = {name: list(entry["tests"]) for name, entry in data["modules"].items()}
    equivalents = [Equivalent(**entry) for entry in data.get("equivalent", [])]
    return tests, equivalents


def run_module(module: str, tests: list[str], only: str | None) -> list[dict[str, object]]:
    """One pytest session over ``tests`` that runs every mutant of ``module``."""
    STATE.mkdir(parents=True, exist_ok=True)
    report = STATE / (module.replace("/", "_") + ".json")
    env = {**os.environ, "FLUX_MUTATE_MODULE": str(ROOT / module), "FLUX_MUTATE_REPORT": str(report)}
    if only:
        env["FLUX_MUTATE_ONLY"] = only
    # --tb=line: a killed mutant's failure report needs no source listing (the costly part)
    command = [sys.executable, "-m", "pytest", "-q", "--tb=line", "-p", "no:cacheprovider"]
    command += ["-p", "flux_devkit.mutate.plugin"]
    subprocess.run([*command, *tests], cwd=ROOT, env=env, check=True)
    return list(json.loads(report.read_text(encoding="utf-8")))


def rerun_survivors(module: str, tests: list[str], report: Path) -> list[dict[str, object]]:
    """The last results with every mutant they did not kill run again (after adding tests)."""
    last = {int(str(o["number"])): o for o in json.loads(report.read_text(encoding="utf-8"))}
    again = [n for n, o in last.items() if o["status"] not in ("killed", "timeout")]
    if again:
        for outcome in run_module(module, tests, ",".join(map(str, again))):
            last[int(str(outcome["number"]))] = outcome
        report.write_text(json.dumps(list(last.values())), encoding="utf-8")
    return list(last.values())


def summarize(
    module: str, outcomes: list[dict[str, object]], equivalents: list[Equivalent], show: bool
) -> Row:
    mutants = {m.number: m for m in list_mutants(ROOT / module)}
    counts = dict.fromkeys(("killed", "timeout", "survived", "uncovered", "unapplied", "excluded"), 0)
    for outcome in outcomes:
        mutant = mutants[int(str(outcome["number"]))]
        status = str(outcome["status"])
        if status not in ("killed", "timeout") and any(e.matches(module, mutant) for e in equivalents):
            status = "excluded"
        counts[status] += 1
        if show and status in ("survived", "uncovered", "unapplied"):
            print(f"{status:>9} {mutant.describe()}")
    return Row(
        module,
        len(outcomes),
        counts["excluded"],
        counts["killed"],
        counts["timeout"],
        counts["survived"],
        counts["uncovered"],
        counts["unapplied"],
    )


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m flux_devkit.mutate", description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="module paths as listed in tests/mutation.toml")
    parser.add_argument("--all", action="store_true", help="every module of tests/mutation.toml")
    parser.add_argument("--only", help="comma-separated mutant numbers (one module)")
    parser.add_argument("--show", action="store_true", help="list the mutants no test killed")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--report", action="store_true", help="table from the last results, run nothing")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="run again only what the last results did not kill, merged in",
    )
    args = parser.parse_args()
    tests, equivalents = load_config()
    modules = list(tests) if args.all else args.modules
    unknown = [m for m in modules if m not in tests]
    if unknown or not modules:
        parser.error(
            f"name modules of tests/mutation.toml: {', '.join(tests)} (unknown: {', '.join(unknown)})"
        )
    if args.list:
        for module in modules:
            for mutant in list_mutants(ROOT / module):
                print(f"{module} {mutant.describe()}")
        return
    os.nice(max(0, 15 - os.nice(0)))  # nice 15 in all, also when started under nice
    rows = []
    for module in modules:
        report = STATE / (module.replace("/", "_") + ".json")
        if args.report:
            outcomes = list(json.loads(report.read_text(encoding="utf-8")))
        elif args.survivors:
            outcomes = rerun_survivors(module, tests[module], report)
        else:
            outcomes = run_module(module, tests[module], args.only)
        rows.append(summarize(module, outcomes, equivalents, args.show))
    print(table(rows))


if __name__ == "__main__":
    main()
