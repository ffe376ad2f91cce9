"""CPU seconds (user + sys) of each Airflow task process while a command runs.

Usage: ``bench/task_cpu.py --logs DIR [--json FILE] -- COMMAND...`` (e.g. ``-- .venv/bin/pytest
tests/test_demo.py``). CPU time is what a task process costs whatever the machine's load; wall
time on a shared 2-core machine is mostly the other processes.

How: Airflow's task runner retitles its process ``airflow worker -- <task instance id>``
right after it starts (LocalExecutor and Celery alike). Every ``--interval`` the script reads
``/proc/<pid>/stat`` of each such process and keeps the last utime + stime it saw, so a
process's tail after the last sample is missed (at most one interval of CPU). When the command
ends, each task instance id is named by the Airflow task logs under ``--logs`` (their lines
carry ``ti_id``). A deferred task resumes in a new process: its first process is ``execute``,
the others ``resume`` (a canary tick, a finished wait).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

TITLE = re.compile(rb"^airflow worker -- ([0-9a-f-]{36})\x00*$")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class TaskProcess:
    pid: int
    ti_id: str
    started: float  # the process's start, in clock ticks since boot (orders a task's processes)
    cpu: float = 0.0
    task: str = "?"
    phase: str = "execute"


def _stat(pid: str) -> tuple[int, float, float] | None:
    """(parent pid, start time in ticks, utime + stime in seconds) of a process; None when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), float(fields[19]), (int(fields[11]) + int(fields[12])) / TICKS


def _descends(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        pid = parents.get(pid, 0)
    return False


def sample(seen: dict[tuple[int, float], TaskProcess], root: int) -> None:
    """One pass over /proc: note new task processes under ``root`` (other stacks on the machine
    run tasks too), update the CPU of the known ones."""
    stats = {int(pid): stat for pid in os.listdir("/proc") if pid.isdigit() and (stat := _stat(pid))}
    parents = {pid: stat[0] for pid, stat in stats.items()}
    for number, (_, started, cpu) in stats.items():
        key = (number, started)
        if key not in seen:
            if not _descends(number, root, parents):
                continue
            pid = str(number)
            try:
                title = TITLE.match(Path(f"/proc/{pid}/cmdline").read_bytes())
            except OSError:
                continue
            if title is None:  # not (yet: a forked runner is retitled when it starts) a task
                continue
            seen[key] = TaskProcess(number, title.group(1).decode(), started)
        seen[key].cpu = cpu


def name_processes(processes: list[TaskProcess], logs: Path) -> None:
    """Task ids from the task logs, and which of a task instance's processes resumed a deferral."""
    tasks: dict[str, str] = {}
    pattern = re.compile(r'"ti_id":\s*"([0-9a-f-]{36})"')
    for log in logs.rglob("attempt=*.log"):
        task = next((p.split("=", 1)[1] for p in log.parts if p.startswith("task_id=")), "?")
        dag = next((p.split("=", 1)[1] for p in log.parts if p.startswith("dag_id=")), "?")
        with log.open(errors="replace") as lines:
            for line in lines:
                if found := pattern.search(line):
                    tasks[found.group(1)] = f"{dag}.{task}"
                    break
    first: dict[str, float] = {}
    for process in sorted(processes, key=lambda p: p.started):
        process.task = tasks.get(process.ti_id, "?")
        process.phase = "resume" if process.ti_id in first else "execute"
        first.setdefault(process.ti_id, process.started)


def report(processes: list[TaskProcess]) -> str:
    groups: dict[tuple[str, str], list[float]] = {}
    for process in processes:
        groups.setdefault((process.task, process.phase), []).append(process.cpu)
    rows = [f"{'task':58} {'phase':8} {'n':>4} {'median s':>9} {'mean s':>7} {'max s':>6} {'total s':>8}"]
    for (task, phase), cpu in sorted(groups.items()):
        rows.append(
            f"{task:58} {phase:8} {len(cpu):4} {statistics.median(cpu):9.2f} "
            f"{statistics.fmean(cpu):7.2f} {max(cpu):6.2f} {sum(cpu):8.1f}"
        )
    total = sum(p.cpu for p in processes)
    rows.append(f"{len(processes)} task processes, {total:.1f} CPU s in all")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--logs", type=Path, required=True, help="folder searched for Airflow task logs")
    parser.add_argument("--json", type=Path, help="write every process as JSON here")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between samples")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    seen: dict[tuple[int, float], TaskProcess] = {}
    child = subprocess.Popen(command)
    while child.poll() is None:
        sample(seen, child.pid)
        time.sleep(args.interval)
    processes = list(seen.values())
    name_processes(processes, args.logs)
    if args.json:
        args.json.write_text(json.dumps([asdict(p) for p in processes], indent=1))
    print(report(processes))
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
