"""What typed validation costs on top of reading YAML, and what importing the specs costs.

Loads a folder of manifests (the seed's examples, repeated) with ``load_manifests`` and
compares it with plain ``yaml`` loading of the same files in the same run; then times
``import airflow_flux_provider.specs`` in a fresh interpreter against importing pydantic
and PyYAML alone.

Run: .venv/bin/python bench/specs_load.py [--copies N] [--repeat N]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from airflow_flux_provider.specs import load_manifests

ROOT = Path(__file__).resolve().parent.parent
SEED_DIR = ROOT.parent / "shared" / "seed"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def write_corpus(folder: Path, copies: int) -> int:
    """Write every seed example ``copies`` times; return the number of objects written."""
    blocks = [
        block
        for seed in sorted(SEED_DIR.glob("*.txt"))
        for block in re.findall(r"```ya?ml\n(.*?)```", seed.read_text(encoding="utf-8"), flags=re.S)
        if re.search(r"^kind:", block, flags=re.M)
    ]
    for copy in range(copies):
        for index, block in enumerate(blocks):
            (folder / f"{copy:04d}-{index:02d}.yaml").write_text(block)
    return sum(len(load_manifests(block)) for block in blocks) * copies


def best_of(repeat: int, step: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def plain_yaml(folder: Path) -> None:
    for path in sorted(folder.rglob("*.yaml")):
        list(yaml.load_all(path.read_text(), Loader=_Loader))  # _Loader is a safe loader


def import_seconds(statement: str, repeat: int) -> float:
    code = f"import time; s = time.perf_counter(); {statement}; print(time.perf_counter() - s)"
    runs = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(repeat)]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        objects = write_corpus(folder, args.copies)
        baseline = best_of(args.repeat, lambda: plain_yaml(folder))
        typed = best_of(args.repeat, lambda: load_manifests(folder))
    print(f"objects: {objects}")
    print(f"plain yaml load:  {baseline * 1000:8.1f} ms")
    print(f"load_manifests:   {typed * 1000:8.1f} ms  ({typed / baseline:.2f}x plain yaml, "
          f"{(typed - baseline) / objects * 1e6:.0f} us per object for validation)")  # fmt: skip
    base_import = import_seconds("import yaml; from pydantic import BaseModel", args.repeat)
    specs_import = import_seconds("import airflow_flux_provider.specs", args.repeat)
    print(f"import pydantic.BaseModel+yaml:     {base_import * 1000:6.1f} ms")
    print(f"import airflow_flux_provider.specs: {specs_import * 1000:6.1f} ms "
          f"(+{(specs_import - base_import) * 1000:.1f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
