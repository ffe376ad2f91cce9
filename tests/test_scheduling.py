"""tests/scheduling.py in a real xdist run as ``scripts/test.sh`` starts it, on stand-ins of its files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.scheduling import BEHIND_THE_CRITICAL_PATH, LONG_FIRST

WORKERS = 3  # as scripts/test.sh runs the suite

CONFTEST = """
import importlib.util
import os

spec = importlib.util.spec_from_file_location("scheduling", {path!r})
scheduling = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scheduling)
pytest_collection_modifyitems = scheduling.pytest_collection_modifyitems
pytest_xdist_make_scheduler = scheduling.pytest_xdist_make_scheduler
pytest_runtest_protocol = scheduling.pytest_runtest_protocol


def pytest_runtest_call(item):
    with open(os.environ["RAN"], "a") as ran:
        ran.write(f"{{os.environ['PYTEST_XDIST_WORKER']}} {{item.nodeid.split('::')[0]}} {{os.nice(0)}}\\n")
"""


def test_long_units_start_first_each_on_one_worker_and_the_rest_behind_the_first(tmp_path: Path) -> None:
    plugin = Path(__file__).with_name("scheduling.py")
    (tmp_path / "conftest.py").write_text(CONFTEST.format(path=str(plugin)))
    many = "\n".join(f"def test_{n}(): pass" for n in range(30))  # by test count these would go first
    stand_ins = {path: "def test_one(): pass\ndef test_two(): pass\n" for unit in LONG_FIRST for path in unit}
    stand_ins |= {f"tests/test_short_{n}.py": many for n in range(4)}
    for path, text in stand_ins.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    ran = tmp_path / "ran.txt"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
         "-n", str(WORKERS), "--dist", "loadfile", "tests"],
        cwd=tmp_path, env={"RAN": str(ran), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    order: dict[str, list[str]] = {}
    niceness: dict[str, set[int]] = {}  # file -> the priorities its tests ran at
    for line in ran.read_text().splitlines():
        worker, path, nice = line.split()
        order.setdefault(worker, []).append(path)  # worker -> the files it ran, in order
        niceness.setdefault(path, set()).add(int(nice))
    unit_of = {path: n for n, unit in enumerate(LONG_FIRST) for path in unit}
    first_units = sorted(unit_of.get(paths[0], -1) for paths in order.values())
    assert first_units == list(range(WORKERS))  # each worker began with one of the longest units
    for unit in LONG_FIRST:
        assert len({worker for worker, paths in order.items() if set(unit) & set(paths)}) == 1, (unit, order)
    assert sum(map(len, order.values())) == 2 * sum(map(len, LONG_FIRST)) + 4 * 30
    # the critical path keeps the priority the run started with; every other file runs behind it
    behind = min(os.nice(0) + BEHIND_THE_CRITICAL_PATH, 19)
    assert {path: niceness[path] for path in LONG_FIRST[0]} == {path: {os.nice(0)} for path in LONG_FIRST[0]}
    assert all(nice == {behind} for path, nice in niceness.items() if path not in LONG_FIRST[0]), niceness
