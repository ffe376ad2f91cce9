"""Bucket source fetch vs a naive S3 download + tar, and the unchanged (listing-only) fetch.

A Bucket with ``--objects`` small objects in nested prefixes is served by the local S3
server. Baseline (same run): list the bucket, download every object one after another with
boto3, then ``tar czf`` the folder. Measured: ``BucketSource.fetch`` into a fresh store
(parallel downloads, deterministic pack, content-addressed store) and a second fetch of the
unchanged bucket, which only lists keys and etags. Goals: first fetch <= 1.2x the
baseline; unchanged fetch <= 10 % of the first.

Run: .venv/bin/python bench/bucket_fetch.py [--objects N] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.sources.artifacts import ArtifactStore
from airflow_flux_provider.sources.bucket import BucketSource
from flux_devkit.services.s3 import S3Server, start_s3_server

BUCKET = "bench-bucket"


def seed(s3: S3Server, count: int) -> None:
    client = s3.client()
    client.create_bucket(Bucket=BUCKET)

    def put(i: int) -> None:
        body = (f"# object {i}\n" + "key: value\n" * 60).encode()
        client.put_object(Bucket=BUCKET, Key=f"apps/team-{i % 20}/svc-{i % 97}/obj-{i}.yaml", Body=body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(count)))


def naive(s3: S3Server, workdir: Path) -> None:
    client = s3.client()
    root = workdir / "tree"
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            target = root / item["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(BUCKET, item["Key"], str(target))
    subprocess.run(["tar", "czf", str(workdir / "out.tar.gz"), "-C", str(root), "."], check=True)


def timed(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-bucket-") as tmp:
        s3 = start_s3_server(Path(tmp) / "s3")
        try:
            seed(s3, args.objects)
            creds = Credentials(username=s3.access_key, password=s3.secret_key)
            endpoint = s3.endpoint.removeprefix("http://")
            source = BucketSource(
                BUCKET, endpoint, obj="Bucket/bench/objects", insecure=True, credentials=creds
            )
            base, first, again = [], [], []
            for round_no in range(args.repeat):
                work = Path(tmp) / f"round-{round_no}"
                work.mkdir()
                base.append(timed(lambda work=work: naive(s3, work)))  # type: ignore[misc]
                store = ArtifactStore(str(work / "store"))
                first.append(timed(lambda store=store: source.fetch(store)))  # type: ignore[misc]
                again.append(timed(lambda store=store: source.fetch(store)))  # type: ignore[misc]
        finally:
            s3.stop()
    b, f, a = (statistics.median(x) for x in (base, first, again))
    print(f"{'case':<34} {'median s':>9} {'ratio':>8}  goal")
    print(f"{'naive list+download+tar czf':<34} {b:>9.2f} {'1.00':>8}  baseline")
    first_ok, again_ok = f <= 1.2 * b, a <= 0.1 * f
    row = "{:<34} {:>9.2f} {:>8}  {}"
    first_goal = f"<= 1.2 x baseline: {_verdict(first_ok)}"
    again_goal = f"<= 10 % of first: {_verdict(again_ok)}"
    print(row.format("BucketSource.fetch (first)", f, f"{f / b:.2f}", first_goal))
    print(row.format("BucketSource.fetch (unchanged)", a, f"{a / f:.2%}", again_goal))
    print(f"\n{args.objects} objects, median of {args.repeat} rounds")
    return 0 if first_ok and again_ok else 1


if __name__ == "__main__":
    sys.exit(main())
