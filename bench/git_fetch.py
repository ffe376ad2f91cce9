"""GitRepository fetch cost against ``git clone --depth 1`` + ``tar`` of the same repository.

A repository of ``--files`` files and ``--commits`` commits is generated with
``git fast-import`` and served by the local smart-HTTP server (basic auth), as a forge
would serve it. Per round, on cold caches:

* baseline: ``git clone --depth 1 --branch main`` then ``tar czf`` of the work tree
  (without ``.git``), i.e. what a hand-written task would do;
* fetch: :meth:`GitSource.fetch` into an empty mirror cache and artifact store
  (ls-remote, depth-1 fetch, checkout, ignore rules, deterministic tarball, digest);
* unchanged: the same fetch again with nothing pushed (only ``ls-remote``).

Goals: fetch <= 1.2x the baseline; unchanged <= 10 % of the fetch.
Run: .venv/bin/python bench/git_fetch.py [--files N] [--commits N] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airflow_flux_provider.credentials import Credentials  # noqa: E402
from airflow_flux_provider.sources.artifacts import ArtifactStore  # noqa: E402
from airflow_flux_provider.sources.git import GitRef, GitSource  # noqa: E402
from airflow_flux_provider.tools import git_path  # noqa: E402
from flux_devkit.services.git_http import GitServer  # noqa: E402

OBJ = "GitRepository/flux-system/bench"


def _blob(text: str) -> str:
    data = text.encode()
    return f"data {len(data)}\n{text}\n"


def generate(bare: Path, files: int, commits: int) -> None:
    """``files`` manifests in the first commit, then ``commits - 1`` commits touching 10 files each."""
    stream: list[str] = []
    for n in range(commits):
        stream.append("commit refs/heads/main\n")
        stream.append(f"committer Bench <bench@example.invalid> {1_700_000_000 + n} +0000\n")
        stream.append(_blob(f"commit {n}"))
        # fast-import chains commits on the same branch by itself
        targets = [(n * 10 + i) % files for i in range(10)] if n else list(range(files))
        for i in targets:
            body = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  rev: '{n}'\n"
            stream.append(f"M 100644 inline apps/team-{i % 100:02d}/cm-{i:05d}.yaml\n")
            stream.append(_blob(body))
    subprocess.run(
        [git_path(), "-C", str(bare), "fast-import", "--quiet"], input="".join(stream).encode(), check=True
    )


def baseline(url: str, work: Path) -> float:
    """Seconds for a shallow clone plus a tarball of its work tree."""
    start = time.perf_counter()
    clone = work / "clone"
    subprocess.run(
        [git_path(), "clone", "--quiet", "--depth", "1", "--branch", "main", url, str(clone)], check=True
    )
    subprocess.run(
        ["tar", "czf", str(work / "out.tar.gz"), "--exclude=.git", "-C", str(clone), "."], check=True
    )
    return time.perf_counter() - start


def fetch_twice(source: GitSource, store: ArtifactStore) -> tuple[float, float]:
    """Cold fetch, then the same fetch with nothing new on the remote."""
    start = time.perf_counter()
    first = source.fetch(store)
    middle = time.perf_counter()
    second = source.fetch(store)
    end = time.perf_counter()
    assert first.changed and not second.changed
    return middle - start, end - middle


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--commits", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-git-") as tmp_name:
        tmp = Path(tmp_name)
        server = GitServer(tmp / "repos", "bench", "bench-pass", tmp / "git.log")
        try:
            server.create_repo("fleet")
            generate(server.repo_path("fleet"), args.files, args.commits)
            creds = Credentials(username=server.username, password=server.password)
            times: dict[str, list[float]] = {"baseline": [], "fetch": [], "unchanged": []}
            for round_no in range(args.repeat):
                work = tmp / f"round-{round_no}"
                work.mkdir()
                times["baseline"].append(baseline(server.auth_url("fleet"), work))
                source = GitSource(
                    server.repo_url("fleet"),
                    obj=OBJ,
                    ref=GitRef(branch="main"),
                    credentials=creds,
                    cache_dir=work / "cache",
                )
                store = ArtifactStore(str(work / "store"))
                cold, unchanged = fetch_twice(source, store)
                times["fetch"].append(cold)
                times["unchanged"].append(unchanged)
        finally:
            server.stop()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"repo: {args.files} files, {args.commits} commits; {args.repeat} rounds, cold caches per round")
    print(f"{'case':<12}{'median s':>10}{'min s':>10}  vs")
    for case, values in times.items():
        print(f"{case:<12}{med[case]:>10.3f}{min(values):>10.3f}", end="  ")
        if case == "fetch":
            ratio = med["fetch"] / med["baseline"]
            print(f"x{ratio:.2f} of baseline (goal <= 1.2) {'ok' if ratio <= 1.2 else 'MISSED'}")
        elif case == "unchanged":
            share = med["unchanged"] / med["fetch"]
            print(f"{share:.1%} of fetch (goal <= 10%) {'ok' if share <= 0.10 else 'MISSED'}")
        else:
            print("baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
