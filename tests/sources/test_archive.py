"""One extraction for every archive (issue 16, finding 2): hostile tarballs never write outside
their folder, on any Python patch level, and stay within the caps."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from airflow_flux_provider.helm.chart import ChartError, load_chart
from airflow_flux_provider.sources.archive import Limits, entry_path, unpack
from airflow_flux_provider.sources.errors import ArtifactTooLargeError, SourceError, UnsafeArchiveError

OBJ = "OCIRepository/flux-system/app"


def _entry(name: str, *, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def _tar(*entries: tuple) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def cve_2025_4517_layer(outside: Path) -> bytes:
    """Long folder names and symlinks push ``realpath`` past PATH_MAX, where it stops resolving;
    then a link that looks inside the root leads to ``outside``, and a file is written through it."""
    comp, steps = "d" * 247, "abcdefghijklmnop"
    entries, path = [], ""
    for step in steps:
        entries.append(_entry(os.path.join(path, comp), kind=tarfile.DIRTYPE))
        entries.append(_entry(os.path.join(path, step), kind=tarfile.SYMTYPE, link=comp))
        path = os.path.join(path, comp)
    deep = os.path.join("/".join(steps), "l" * 254)
    entries.append(_entry(deep, kind=tarfile.SYMTYPE, link="../" * len(steps)))
    entries.append(_entry("escape", kind=tarfile.SYMTYPE, link=deep + "/.." * 8 + str(outside)))
    entries.append(_entry("escape/pwned.txt", data=b"pwned\n"))
    return _tar(*entries)


@pytest.mark.parametrize("max_path", [1024, 8192], ids=["default-caps", "caps-lifted"])
def test_path_max_symlink_escape_writes_nothing_outside(tmp_path: Path, max_path: int) -> None:
    """The 1.4 KB layer that escaped ``filter="tar"`` + ``resolve()`` on Python 3.11.7 stays inside:
    refused by the path cap, and even with the cap lifted no link is ever created to walk through."""
    outside, root = tmp_path / "outside", tmp_path / "root"
    outside.mkdir()
    root.mkdir()
    layer = cve_2025_4517_layer(outside)
    assert len(layer) < 1500
    try:
        unpack(layer, root, limit=1 << 20, obj=OBJ, limits=Limits(max_path=max_path))
    except UnsafeArchiveError as err:
        assert max_path == 1024 and "over the limit of 1024" in str(err)
    assert list(outside.iterdir()) == []
    assert not any(p.is_symlink() for p in root.rglob("*"))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../escape.txt", "climbs with '..'"),
        ("a/../../escape.txt", "climbs with '..'"),
        ("/etc/cron.d/x", "absolute path"),
        ("a/\0b", "NUL byte"),
        ("x" * 300, "over 255 bytes"),
        ("a/" * 600 + "f", "over the limit of 1024"),
        ("-rf", None),  # a leading dash is only a name
        ("./ok/./file.yaml", None),
    ],
)
def test_entry_names(name: str, message: str | None) -> None:
    if message is None:
        assert entry_path(name, obj=OBJ).as_posix() == name.replace("./", "")
        return
    with pytest.raises(UnsafeArchiveError, match=message) as info:
        entry_path(name, obj=OBJ)
    assert info.value.obj == OBJ


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_entry("passwd", kind=tarfile.SYMTYPE, link="/etc/passwd"), "points outside"),
        (_entry("a/b", kind=tarfile.SYMTYPE, link="../../x"), "points outside"),
        (_entry("a/b", kind=tarfile.LNKTYPE, link="../x"), "points outside"),
        (_entry("null", kind=tarfile.CHRTYPE), "device, FIFO"),
        (_entry("disk", kind=tarfile.BLKTYPE), "device, FIFO"),
        (_entry("pipe", kind=tarfile.FIFOTYPE), "device, FIFO"),
    ],
)
def test_hostile_entries_are_refused(tmp_path: Path, entry: tuple, message: str) -> None:
    with pytest.raises(UnsafeArchiveError, match=message):
        unpack(_tar(_entry("ok.yaml", data=b"a: 1\n"), entry), tmp_path, limit=1 << 20, obj=OBJ)


def test_links_inside_are_left_out_as_flux_does(tmp_path: Path) -> None:
    layer = _tar(
        _entry("deploy/real.yaml", data=b"a: 1\n"),
        _entry("deploy/alias.yaml", kind=tarfile.SYMTYPE, link="real.yaml"),
        _entry("deploy/hard.yaml", kind=tarfile.LNKTYPE, link="deploy/real.yaml"),
    )
    unpack(layer, tmp_path, limit=1 << 20, obj=OBJ)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "deploy",
        "deploy/real.yaml",
    ]


def test_caps_on_entries_and_written_bytes(tmp_path: Path) -> None:
    many = _tar(*[_entry(f"f{i}", data=b"x") for i in range(11)])
    (tmp_path / "a").mkdir()
    with pytest.raises(ArtifactTooLargeError, match="more than 10 entries"):
        unpack(many, tmp_path / "a", limit=1 << 20, obj=OBJ, limits=Limits(max_entries=10))
    bomb = _tar(_entry("zeros.bin", data=b"\0" * 5_000_000))
    assert len(bomb) < 10_000
    (tmp_path / "b").mkdir()
    with pytest.raises(ArtifactTooLargeError, match="more than 1000000 bytes"):
        unpack(bomb, tmp_path / "b", limit=1_000_000, obj=OBJ)
    assert sum(p.stat().st_size for p in (tmp_path / "b").rglob("*")) <= 1_000_000 + (1 << 20)


@pytest.mark.parametrize(
    "data", [b"", b"not a tarball", b"\x1f\x8b\x08\x00" + b"\xff" * 40], ids=["empty", "text", "bad-gzip"]
)
def test_unreadable_archives_are_a_clear_error(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(SourceError, match="not a readable tar archive") as info:
        unpack(data, tmp_path, limit=1 << 20, obj=OBJ)
    assert "Traceback" not in str(info.value)


def test_file_and_folder_with_one_name(tmp_path: Path) -> None:
    layer = _tar(_entry("a", data=b"x"), _entry("a/b", data=b"y"))
    with pytest.raises(UnsafeArchiveError, match="folder in one place and a file in another"):
        unpack(layer, tmp_path, limit=1 << 20, obj=OBJ)


def test_packaged_chart_with_a_hostile_entry_is_a_chart_error(tmp_path: Path) -> None:
    chart = tmp_path / "app-1.0.0.tgz"
    chart.write_bytes(
        _tar(_entry("app/Chart.yaml", data=b"name: app\nversion: 1.0.0\n"), _entry("../../evil.yaml"))
    )
    with pytest.raises(ChartError, match=r"field spec\.chart: .*climbs with '\.\.'"):
        load_chart(chart, obj="HelmRelease/apps/app")
    chart.write_bytes(_tar(_entry("app/Chart.yaml", data=b"name: app\nversion: 1.0.0\n")))
    assert load_chart(chart, obj="HelmRelease/apps/app").version == "1.0.0"
