"""ArtifactStore: deterministic packing, history/GC, and safe extraction of hostile archives."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from airflow_flux_provider.sources.artifacts import Artifact, ArtifactStore
from airflow_flux_provider.sources.errors import ArtifactTooLargeError, SourceError, UnsafeArchiveError

SRC = "GitRepository/flux-system/podinfo"


def _tree(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buf.getvalue()


def test_same_content_same_digest_whatever_the_mtimes(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    a = _tree(tmp_path / "a", {"apps/podinfo.yaml": "replicas: 2\n", "b.txt": "b"})
    b = _tree(tmp_path / "b", {"b.txt": "b", "apps/podinfo.yaml": "replicas: 2\n"})
    os.utime(b / "b.txt", (1, 1))
    (b / "b.txt").chmod(0o644)
    first = store.put_directory(a, source=SRC, revision="main@sha1:" + "1" * 40)
    second = store.put_directory(b, source=SRC, revision="main@sha1:" + "1" * 40)
    assert first.digest == second.digest and first.digest.startswith("sha256:")
    assert first.path is not None and Path(first.path).stat().st_size == first.size
    with tarfile.open(first.path) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["apps", "apps/podinfo.yaml", "b.txt"]
    assert {(m.mtime, m.uid, m.gid) for m in members} == {(0, 0, 0)}
    assert [oct(m.mode) for m in members] == ["0o750", "0o600", "0o600"]


def test_xcom_round_trip_extract_and_ignore(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    src = _tree(tmp_path / "src", {"keep.yaml": "k", "drop/x.yaml": "x"})
    art = store.put_directory(
        src, source=SRC, revision="v1@sha1:" + "2" * 40, ignore=lambda p, d: p.startswith("drop")
    )
    again = Artifact.from_xcom(art.to_xcom())
    assert again == art
    out = store.extract(again, tmp_path / "out")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["keep.yaml"]
    with pytest.raises(SourceError, match="not an artifact record"):
        Artifact.from_xcom({"url": "x"})


def test_latest_and_gc_keep_newest_and_shared_blobs(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    arts = [
        store.put_bytes(f"index {i}".encode(), source=SRC, revision=f"r{i}", suffix=".yaml") for i in range(4)
    ]
    shared = store.put_bytes(b"index 0", source="HelmRepository/default/other", revision="x", suffix=".yaml")
    assert store.latest(SRC) == arts[-1]
    dropped = store.gc(SRC, keep=2)
    assert [a.revision for a in dropped] == ["r0", "r1"]
    assert [a.revision for a in store.history(SRC)] == ["r2", "r3"]
    assert store.get(shared.digest) == b"index 0"  # still used by the other source
    with pytest.raises(SourceError, match="not in the store"):
        store.get(arts[1].digest)
    with pytest.raises(SourceError, match="keep=0"):
        store.gc(SRC, keep=0)


def test_bad_source_and_corrupt_blob(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    with pytest.raises(SourceError, match="Kind/namespace/name"):
        store.put_bytes(b"x", source="podinfo", revision="r", suffix=".yaml")
    art = store.put_bytes(b"good", source=SRC, revision="r", suffix=".yaml")
    assert art.path is not None
    Path(art.path).write_bytes(b"evil")
    with pytest.raises(SourceError, match="corrupt"):
        store.get(art.digest)


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (tarfile.TarInfo("../escape.txt"), "outside the target folder"),
        (tarfile.TarInfo("/abs.txt"), "outside the target folder"),
    ],
)
def test_tar_slip_refused_nothing_written(tmp_path: Path, member: tarfile.TarInfo, message: str) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    art = store.put_bytes(_tar([(member, b"x")]), source=SRC, revision="r", suffix=".tar.gz")
    with pytest.raises(UnsafeArchiveError, match=message):
        store.extract(art, tmp_path / "out" / "dest")
    assert not (tmp_path / "out" / "dest").exists()
    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "out" / "escape.txt").exists()


def test_symlink_escape_is_refused(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    link = tarfile.TarInfo("deploy/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
    art = store.put_bytes(_tar([(link, b"")]), source=SRC, revision="r", suffix=".tar.gz")
    with pytest.raises(UnsafeArchiveError, match="points outside"):
        store.extract(art, tmp_path / "dest")
    inside = tarfile.TarInfo("deploy/alias")
    inside.type, inside.linkname = tarfile.SYMTYPE, "real.yaml"
    ok = store.put_bytes(
        _tar([(tarfile.TarInfo("deploy/real.yaml"), b"a: 1\n"), (inside, b"")]),
        source=SRC,
        revision="r2",
        suffix=".tar.gz",
    )
    out = store.extract(ok, tmp_path / "ok")  # a link inside is left out, as Flux does
    assert sorted(p.name for p in (out / "deploy").iterdir()) == ["real.yaml"]


def test_oversize_archive_and_store_limits(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"), max_size=4096, max_extracted=1000)
    art = store.put_bytes(
        _tar([(tarfile.TarInfo("big.bin"), b"\0" * 100_000)]), source=SRC, revision="r", suffix=".tar.gz"
    )
    with pytest.raises(ArtifactTooLargeError, match="max_extracted"):
        store.extract(art, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    big = _tree(tmp_path / "big", {})
    (big / "random.bin").write_bytes(os.urandom(20_000))
    with pytest.raises(ArtifactTooLargeError, match="max_size"):
        store.put_directory(big, source=SRC, revision="r")
    with pytest.raises(ArtifactTooLargeError):
        store.put_bytes(os.urandom(5000), source=SRC, revision="r", suffix=".bin")
    assert store.latest(SRC) == art  # nothing half-written was recorded


def test_default_base_is_under_airflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    store = ArtifactStore()
    art = store.put_bytes(b"x", source=SRC, revision="r", suffix=".txt")
    assert art.path is not None and Path(art.path).is_relative_to(tmp_path / "flux" / "artifacts")
    assert art.url.startswith("file://")


def test_non_local_fsspec_store(tmp_path: Path) -> None:
    """Any fsspec URL works (memory:// here; s3:// needs s3fs installed): no local path in the XCom."""
    store = ArtifactStore(f"memory://flux-{tmp_path.name}")
    art = store.put_directory(_tree(tmp_path / "src", {"a.yaml": "a\n"}), source=SRC, revision="r1")
    assert art.path is None and art.url.startswith("memory://")
    again = ArtifactStore(f"memory://flux-{tmp_path.name}")  # another task, same base URL
    assert again.latest(SRC) == art
    assert (again.extract(art, tmp_path / "out") / "a.yaml").read_text() == "a\n"
    store.put_bytes(b"2", source=SRC, revision="r2", suffix=".txt")
    assert [a.revision for a in store.gc(SRC, keep=1)] == ["r1"]
    with pytest.raises(SourceError, match="not in the store"):
        again.get(art.digest)


def test_parallel_writers_lose_no_history_entry(tmp_path: Path) -> None:
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=4) as pool:
        list(pool.map(_put_one, [(str(tmp_path / "store"), i) for i in range(16)]))
    history = ArtifactStore(str(tmp_path / "store")).history(SRC)
    assert sorted(a.revision for a in history) == sorted(f"r{i}" for i in range(16))


def _put_one(args: tuple[str, int]) -> None:
    base, i = args
    ArtifactStore(base).put_bytes(f"content {i}".encode(), source=SRC, revision=f"r{i}", suffix=".txt")


def test_extract_racing_another_process_into_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tasks on one worker unpack the same digest at once: the loser says so and leaves no staging."""
    from airflow_flux_provider.sources import artifacts

    store = ArtifactStore(str(tmp_path / "store"))
    art = store.put_directory(_tree(tmp_path / "src", {"a.yaml": "a\n"}), source=SRC, revision="r1")
    dest = tmp_path / "sources" / "digest"
    real_unpack = artifacts.unpack

    def unpack_while_the_other_task_finishes(data: bytes, staging: Path, **kwargs: object) -> None:
        real_unpack(data, staging, **kwargs)  # type: ignore[arg-type]
        real_unpack(data, dest, **kwargs)  # type: ignore[arg-type]  # the other task's rename lands first

    monkeypatch.setattr(artifacts, "unpack", unpack_while_the_other_task_finishes)
    with pytest.raises(SourceError, match="was filled by another process"):
        store.extract(art, dest)
    assert (dest / "a.yaml").read_text() == "a\n"
    assert [p.name for p in dest.parent.iterdir()] == ["digest"]  # the staging folder is gone
