"""Image automation costs: ImagePolicy over 100,000 tags, Setters over 1,000 YAML files.

* policy: each of Flux's policy kinds (semver range, alphabetical, numerical with a
  ``filterTags`` extract) chooses from 100,000 synthetic tags. Goal: <= 1 s each.
* setters: a repository of 1,000 Deployment files (one marked image each, a third of them
  already current) is rewritten by :func:`apply_setters`; the baseline reads and
  YAML-parses the same files and rewrites the ones that change (what any tool must do to
  find the markers and save the result; on ext4 rewriting a file flushes it, which
  dominates both under load). Goal: setters <= 2x the baseline.

Run: .venv/bin/python bench/image_policy.py [--tags N] [--files N]
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airflow_flux_provider.images.policy import PolicyResult, TagFilter, TagPolicy  # noqa: E402
from airflow_flux_provider.images.setters import apply_setters  # noqa: E402

DEPLOYMENT = """\
# service {n}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{n}
  namespace: apps
  labels: {{app: svc-{n}, tier: "backend"}}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: svc-{n}
  template:
    metadata:
      labels:
        app: svc-{n}
    spec:
      containers:
        - name: app
          image: ghcr.io/org/svc:{tag} # {{"$imagepolicy": "flux-system:svc"}}
          ports:
            - containerPort: 8080
          env:
            - name: MODE
              value: 'production'
"""


def best_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_policies(count: int) -> None:
    rng = random.Random(7)
    semver_tags = [
        f"v{rng.randrange(0, 5)}.{rng.randrange(0, 50)}.{rng.randrange(0, 200)}" for _ in range(count)
    ]
    semver_tags += ["latest", "main", "1.2.3-rc.1"]
    ts_tags = [f"main-{rng.getrandbits(28):07x}-{1_700_000_000 + i}" for i in range(count)]
    cases = {
        "semver >=1.0.0 <4.0.0": (TagPolicy("semver", semver_range=">=1.0.0 <4.0.0"), semver_tags),
        "alphabetical asc": (TagPolicy("alphabetical"), ts_tags),
        "numerical asc + extract $ts": (
            TagPolicy("numerical", tag_filter=TagFilter(r"^main-[a-f0-9]+-(?P<ts>[0-9]+)$", "$ts")),
            ts_tags,
        ),
    }
    print(f"ImagePolicy over {count:,} tags (best of 3, goal <= 1 s):")
    for label, (policy, tags) in cases.items():
        chosen = policy.latest(tags)
        seconds = best_of(3, functools.partial(policy.latest, tags))
        verdict = "ok" if seconds <= 1.0 else "OVER GOAL"
        print(f"  {label:<30} {seconds * 1000:8.1f} ms  -> {chosen}  [{verdict}]")


def bench_setters(files: int) -> None:
    policies = {"flux-system:svc": PolicyResult("ghcr.io/org/svc", "2.0.0")}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def seed() -> None:
            for n in range(files):
                folder = root / "apps" / f"team-{n % 20}"
                folder.mkdir(parents=True, exist_ok=True)
                tag = "2.0.0" if n % 3 == 0 else "1.0.0"
                (folder / f"svc-{n}.yaml").write_text(DEPLOYMENT.format(n=n, tag=tag))

        def read_parse_and_write() -> None:
            for path in sorted((root / "apps").rglob("*.yaml")):
                text = path.read_text()
                list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
                if "svc:1.0.0" in text:
                    path.write_text(text)

        baselines = []
        for _ in range(3):
            seed()  # the same freshly written repository the setters get
            start = time.perf_counter()
            read_parse_and_write()
            baselines.append(time.perf_counter() - start)
        baseline = min(baselines)
        runs = []
        for _ in range(3):
            seed()  # every run starts from the same un-updated repository
            start = time.perf_counter()
            result = apply_setters(root, "apps", policies)
            runs.append(time.perf_counter() - start)
        setters = min(runs)
    ratio = setters / baseline
    print(f"Setters over {files:,} YAML files ({len(result.changes)} values rewritten per run, best of 3):")
    print(f"  read, parse, write (baseline) {baseline * 1000:7.1f} ms")
    print(
        f"  apply_setters                {setters * 1000:8.1f} ms  = {ratio:.2f}x baseline "
        f"[{'ok' if ratio <= 2 else 'OVER GOAL'} (goal <= 2x)]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=1_000)
    args = parser.parse_args()
    bench_policies(args.tags)
    bench_setters(args.files)


if __name__ == "__main__":
    main()
