"""How much the provider adds to DAG parsing: import time and per-file DagBag parse time.

Airflow re-parses every DAG file in a fresh process again and again, so whatever a DAG
file pulls in at module level is paid on every parse. Each measurement here runs in a
fresh interpreter with Airflow already imported (as in the DAG processor) and times only
the step itself; each DAG file under ``dags/`` is compared with an empty DAG file parsed
in the same run (and with a provider-free TaskFlow DAG, to show what Airflow's own
decorators cost). Goal: no file more than 0.5 s over the empty baseline.

Run: .venv/bin/python bench/import_parse.py [--repeat N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 0.5
PACKAGES = ("airflow_flux_provider", "airflow_flux_provider.operators", "airflow_flux_provider.sensors")
EMPTY_DAG = '''"""Baseline: a DAG with no tasks (the words airflow and dag make DagBag parse it)."""
from airflow.sdk import DAG

with DAG(dag_id="empty_baseline", schedule=None):
    pass
'''
# Reference: what Airflow's own @dag/@task machinery costs, with nothing from this provider.
TASKFLOW_DAG = '''"""Reference: a TaskFlow DAG with one task and no provider import."""
from airflow.sdk import dag, task


@dag(dag_id="taskflow_reference", schedule=None)
def taskflow_reference():
    @task
    def hello():
        return "hello"

    hello()


taskflow_reference()
'''

# Runs in the child: import Airflow first (the DAG processor has it loaded), then time one step.
CHILD = """
import importlib, json, sys, time
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk
mode, target = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if mode == "import":
    importlib.import_module(target)
    result = {}
else:
    bag = DagBag(dag_folder=target)
    result = {"dags": sorted(bag.dag_ids), "errors": {k: str(v)[-800:] for k, v in bag.import_errors.items()}}
result["seconds"] = time.perf_counter() - start
print("RESULT " + json.dumps(result))
"""


def measure(mode: str, target: str, env: dict[str, str]) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode, target],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{mode} {target} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    result: dict[str, object] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per case (median reported)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-import-parse-") as tmp:
        home, empty_dir = Path(tmp) / "airflow", Path(tmp) / "empty"
        home.mkdir()
        empty_dir.mkdir()
        empty = empty_dir / "empty_dag.py"
        empty.write_text(EMPTY_DAG)
        taskflow = empty_dir / "taskflow_dag.py"
        taskflow.write_text(TASKFLOW_DAG)
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(empty_dir),
        }
        cases = [("import", name, name) for name in PACKAGES if importlib.util.find_spec(name)]
        cases.append(("parse", str(empty), "parse <empty DAG>"))
        cases.append(("parse", str(taskflow), "parse <TaskFlow DAG, no provider>"))
        dag_files = sorted((ROOT / "dags").glob("*.py"))
        cases += [("parse", str(path), f"parse dags/{path.name}") for path in dag_files]

        samples: dict[str, list[float]] = {label: [] for _, _, label in cases}
        failures: dict[str, dict[str, str]] = {}
        for _ in range(args.repeat):  # round-robin so load on the machine hits every case alike
            for mode, target, label in cases:
                result = measure(mode, target, env)
                samples[label].append(float(result["seconds"]))  # type: ignore[arg-type]
                if result.get("errors"):
                    failures[label] = result["errors"]  # type: ignore[assignment]

    baseline = statistics.median(samples["parse <empty DAG>"])
    print(f"{'case':<44} {'median ms':>10} {'min ms':>8} {'vs empty DAG':>22}  goal")
    over_goal = False
    for mode, _, label in cases:
        median, low = statistics.median(samples[label]), min(samples[label])
        comparison, verdict = "", ""
        if label == "parse <empty DAG>":
            comparison = "baseline"
        elif mode == "parse":
            extra = median - baseline
            comparison = f"{extra * 1000:+.1f} ms (x{median / baseline:.1f})"
        if label.startswith("parse dags/"):
            verdict = "ok" if extra <= GOAL_SECONDS else f"OVER (> +{GOAL_SECONDS} s)"
            over_goal |= extra > GOAL_SECONDS
        print(f"{label:<44} {median * 1000:>10.1f} {low * 1000:>8.1f} {comparison:>22}  {verdict}")
    python = sys.version.split()[0]
    print(f"\n{args.repeat} fresh processes per case, Airflow imported before timing, python {python}")
    for label, errors in failures.items():
        print(f"\nIMPORT ERRORS in {label}:")
        for path, error in errors.items():
            print(f"  {path}: {error}")
    return 1 if failures or over_goal else 0


if __name__ == "__main__":
    sys.exit(main())
