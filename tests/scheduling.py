"""Which xdist worker runs which test files, and when (``scripts/test.sh``: ``-n 3 --dist loadfile``).

A run lasts as long as its busiest worker. xdist hands files out by test count, so the demo
story (eight tests, but the longest file by far) started after most of the suite and the run
took the suite plus the story. Here the long files go out first, longest first; the files that
use the session's live Airflow (``airflow_scheduler``: four Airflow processes, minutes to start on
a loaded machine) form one unit, so one worker starts that stack once instead of each worker
starting its own. The other files follow in collection order, each whole on one worker.

The first unit is the run's critical path: the demo's story spends most of its time waiting on
canary intervals and Jobs, and each of its waits grows when the other workers take the CPU it
needs between them. So a worker lowers its own CPU priority (and that of every process it
starts from then on) when it begins a test of any other unit: the story gets the CPU as soon as
it asks, and the rest of the suite fills what it leaves.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import pytest

#: Handed out first, in this order: the longest units as ``scripts/test.sh --durations`` measured
#: them (one worker runs a unit's files one after the other): on 2026-12-07 under load 17, the demo
#: 3042 s, the live-Airflow files 1672 s, then 200-310 s each. Keep it to files that take minutes.
LONG_FIRST: tuple[tuple[str, ...], ...] = (
    ("tests/test_demo.py",),
    (
        "tests/plugins/test_flux_view.py",
        "tests/canary/test_under_scheduler.py",
        "tests/dags/test_under_scheduler.py",
        "tests/dags/test_reconcile_requests.py",
    ),
    ("tests/test_production_stack.py",),
    ("tests/cli/test_reconcile_seed.py",),
    ("tests/test_demo_airflow.py",),
    ("tests/sandbox/test_network.py",),
    ("tests/cli/test_get_cli.py",),
    ("tests/cli/test_reconcile_cli.py",),
    ("tests/test_connection_form.py",),
)
_UNIT_OF = {path: rank for rank, unit in enumerate(LONG_FIRST) for path in unit}
#: how much a worker lowers its priority for the units after the first (10: about a tenth of a
#: contended core's share against a process at the priority it had)
BEHIND_THE_CRITICAL_PATH = 10


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each worker collects the long units first: the work queue follows this order."""
    items.sort(key=lambda item: _UNIT_OF.get(_file(item.nodeid), len(LONG_FIRST)))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> None:
    """On an xdist worker, before the first test outside the critical path sets anything up."""
    if hasattr(item.config, "workerinput") and _UNIT_OF.get(_file(item.nodeid)) != 0:
        _step_behind()


@functools.cache
def _step_behind() -> None:
    """Once per worker: niceness adds up, and an unprivileged process cannot take it back."""
    os.nice(BEHIND_THE_CRITICAL_PATH)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongFirstScheduling(LoadFileScheduling):  # type: ignore[misc]
        """``--dist loadfile`` with the units of :data:`LONG_FIRST` as single work units."""

        def _split_scope(self, nodeid: str) -> str:
            path = _file(nodeid)
            return f"long unit {_UNIT_OF[path]}" if path in _UNIT_OF else path

    config.option.loadscopereorder = False  # by test count, the demo's eight tests would go last
    return LongFirstScheduling(config, log)
