"""CPU seconds (user + sys) of each Airflow task process while a command runs.

Usage: ``bench/task_cpu.py --logs DIR [--json FILE] [--kinds] -- COMMAND...`` (e.g. ``--
.venv/bin/pytest tests/test_demo.py``). With ``--kinds``, every process under the command is
counted too, by kind (scheduler, api-server, Celery worker, supervisor, task, Redis, ...), and
the sum is checked against the CPU the kernel reports for the whole process tree once it ended,
and each kind's CPU is split at the first task process (start-up and DAG parsing / the tasks).
CPU time is what a task process costs whatever the machine's load; wall time on a shared
2-core machine is mostly the other processes.

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
import resource
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


@dataclass
class Process:
    """Any process under the command, for ``--kinds``."""

    pid: int
    parent: int
    started: float
    command: str  # its command line, as last seen (forked task processes and pool children retitle)
    cpu: float = 0.0
    before: float = 0.0  # its CPU when the first task process appeared (start-up and DAG parsing)


_COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api_server")


def kind_of(process: Process, processes: dict[int, Process]) -> str:
    """A process's kind, from its command line and, for a fork that kept it, its parent's."""
    command = process.command
    if TITLE.match(command.encode()):
        return "task process"
    if command.startswith("airflow supervisor:"):  # a Celery pool child running a task's supervisor
        return "celery pool child (supervisor)"
    if "celery worker" in command:
        return "celery worker parent"
    words = command.split()
    airflow = next((w for w in words if w in _COMPONENTS), None) if "airflow" in command else None
    if airflow:
        kind = f"airflow {airflow.replace('_', '-')}"
    elif words and words[0].rpartition("/")[2].startswith("python"):
        script = next((w for w in words[1:] if not w.startswith("-")), "?")
        kind = f"python {script.rpartition('/')[2]}"
    else:
        kind = words[0].rpartition("/")[2] if words else "?"
    parent = processes.get(process.parent)
    if parent is not None and parent.command == process.command:
        return f"{kind} (forked)"
    return kind


def sample_all(seen: dict[tuple[int, float], Process], root: int, tasks_started: bool) -> None:
    """One pass over /proc: every process under ``root``, its command line and CPU (and, until
    ``tasks_started``, its CPU before the tasks)."""
    stats = {int(pid): stat for pid in os.listdir("/proc") if pid.isdigit() and (stat := _stat(pid))}
    parents = {pid: stat[0] for pid, stat in stats.items()}
    for number, (parent, started, cpu) in stats.items():
        if not _descends(number, root, parents):
            continue
        try:
            command = Path(f"/proc/{number}/cmdline").read_bytes().replace(b"\x00", b" ").strip()
        except OSError:
            continue
        process = seen.setdefault((number, started), Process(number, parent, started, ""))
        process.command = command.decode(errors="replace") or process.command
        process.cpu = cpu
        if not tasks_started:
            process.before = cpu


def kinds_report(processes: list[Process], tree_cpu: float) -> str:
    """CPU per kind, and what sampling missed: the kernel's total for the tree minus the samples."""
    by_pid = {p.pid: p for p in processes}
    groups: dict[str, list[Process]] = {}
    for process in processes:
        groups.setdefault(kind_of(process, by_pid), []).append(process)
    rows = [f"{'kind':44} {'n':>5} {'total s':>8} {'before tasks s':>15} {'during s':>9}"]
    for kind, group in sorted(groups.items(), key=lambda item: -sum(p.cpu for p in item[1])):
        total, before = sum(p.cpu for p in group), sum(p.before for p in group)
        rows.append(f"{kind[:44]:44} {len(group):5} {total:8.1f} {before:15.1f} {total - before:9.1f}")
    sampled = sum(p.cpu for p in processes)
    rows.append(
        f"sampled {sampled:.1f} CPU s; the tree used {tree_cpu:.1f} (unsampled {tree_cpu - sampled:.1f})"
    )
    return "\n".join(rows)


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
    parser.add_argument("--kinds", action="store_true", help="also report every process's CPU by kind")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    seen: dict[tuple[int, float], TaskProcess] = {}
    everything: dict[tuple[int, float], Process] = {}
    child = subprocess.Popen(command)
    while child.poll() is None:
        sample(seen, child.pid)
        if args.kinds:
            sample_all(everything, child.pid, tasks_started=bool(seen))
        time.sleep(args.interval)
    processes = list(seen.values())
    name_processes(processes, args.logs)
    if args.json:
        args.json.write_text(json.dumps([asdict(p) for p in processes], indent=1))
    print(report(processes))
    if args.kinds:
        tree = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(kinds_report(list(everything.values()), tree.ru_utime + tree.ru_stime))
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
