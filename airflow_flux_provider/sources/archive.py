"""Unpacking what other people packed: Git artifacts, OCI layers, Helm charts, Bucket objects.

Python's own guards (``tarfile``'s ``filter="tar"``, a ``Path.resolve()`` check) lean on
``os.path.realpath``, which stops resolving without a word once a path passes PATH_MAX:
a 1.4 KB layer of long folder names and symlinks walks out of the target folder on
3.11.7 (the CVE-2025-4517 class). Nothing here resolves paths to decide safety:

* entry names are checked as text (no absolute path, no ``..``, no NUL, bounded length);
* no link is ever created (Flux skips links too): one that points outside is refused as
  hostile, one that stays inside is left out;
* every folder is opened one component at a time with ``O_NOFOLLOW`` relative to its
  parent's descriptor, and every file is created through that descriptor, so nothing on
  disk can redirect a write; the real path of each created file is then checked as well;
* entries, bytes written (not the sizes the archive claims) and path lengths are capped.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from airflow_flux_provider.sources.errors import ArtifactTooLargeError, SourceError, UnsafeArchiveError

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 2 * 1024 * 1024 * 1024
DEFAULT_MAX_ENTRIES = 100_000
MAX_PATH = 1024  # bytes of one entry's path: deep enough for any chart or manifest tree
MAX_NAME = 255  # bytes of one path component (NAME_MAX)
_SOURCE = {"entry": "archive", "object key": "bucket content"}
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Limits:
    """Caps for one archive (or one Bucket download): bytes written, entries, path length."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_path: int = MAX_PATH


def entry_path(name: str, *, obj: str, what: str = "entry", limits: Limits = Limits()) -> PurePosixPath:
    """``name`` as a path below the target folder, or :class:`UnsafeArchiveError` saying why not.

    ``./a/./b`` becomes ``a/b``; an empty name, an absolute path, a ``..`` component, a NUL
    or a path longer than the caps is refused.
    """
    if "\0" in name:
        raise UnsafeArchiveError(f"{what} {name!r} holds a NUL byte; remove it from the archive", obj=obj)
    encoded = len(name.encode("utf-8", "surrogateescape"))
    if encoded > limits.max_path:
        raise UnsafeArchiveError(
            f"{what} {name[:60]!r}… is {encoded} bytes long, over the limit of {limits.max_path}; "
            "shorten the path in the archive",
            obj=obj,
        )
    if name.startswith("/"):
        raise UnsafeArchiveError(
            f"{what} {name!r} is an absolute path and would be written outside the target folder; "
            f"rebuild the {_SOURCE.get(what, 'archive')} without it",
            obj=obj,
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(
            f"{what} {name!r} climbs with '..' and would be written outside the target folder; "
            f"rebuild the {_SOURCE.get(what, 'archive')} without it",
            obj=obj,
        )
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME:
            raise UnsafeArchiveError(
                f"{what} {name[:60]!r}… has a path component over {MAX_NAME} bytes; shorten it", obj=obj
            )
    return PurePosixPath(*parts)


def _link_escapes(path: PurePosixPath, target: str, *, hard: bool) -> bool:
    """Whether a link at ``path`` to ``target`` points outside the root, judged as text."""
    if target.startswith("/"):
        return True
    depth = 0 if hard else len(path.parts) - 1  # a hard link names its target from the root
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


@dataclass
class Folder:
    """A target folder that entries are written into only through descriptors (never by path).

    Counts entries and bytes against ``limits``; ``close()`` releases the descriptors.
    Safe to share between threads (parallel downloads write into one folder).
    """

    root: Path
    obj: str
    limits: Limits = field(default_factory=Limits)
    entries: int = 0
    written: int = 0

    def __post_init__(self) -> None:
        self.root = Path(os.path.realpath(self.root))
        self._root_fd = os.open(self.root, _DIR_FLAGS)
        self._dirs: dict[PurePosixPath, int] = {PurePosixPath(): self._root_fd}
        self._lock = threading.RLock()

    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self) -> None:
        with self._lock:
            self.entries += 1
        if self.entries > self.limits.max_entries:
            raise ArtifactTooLargeError(
                f"the archive holds more than {self.limits.max_entries} entries; "
                "split the content or leave files out with ignore rules",
                obj=self.obj,
            )

    def mkdir(self, path: PurePosixPath) -> int:
        """The descriptor of folder ``path`` (created as needed), never following a link."""
        with self._lock:
            return self._mkdir(path)

    def _mkdir(self, path: PurePosixPath) -> int:
        fd = self._dirs.get(path)
        if fd is not None:
            return fd
        parent = self._mkdir(path.parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path.name, 0o755, dir_fd=parent)
        try:
            fd = os.open(path.name, _DIR_FLAGS, dir_fd=parent)
        except OSError:
            raise UnsafeArchiveError(
                f"entry {path.as_posix()!r} is a folder in one place and a file in another; fix the archive",
                obj=self.obj,
            ) from None
        self._dirs[path] = fd
        return fd

    def create(self, path: PurePosixPath, *, executable: bool = False) -> _Counted:
        """A new (or truncated) regular file at ``path``; writes past the byte cap raise."""
        if not path.parts:
            raise UnsafeArchiveError("an archive file entry has an empty name; fix the archive", obj=self.obj)
        self.count()
        parent = self.mkdir(path.parent)
        try:
            fd = os.open(path.name, _FILE_FLAGS, 0o755 if executable else 0o644, dir_fd=parent)
        except OSError:
            raise UnsafeArchiveError(
                f"entry {path.as_posix()!r} cannot be written as a file (a folder has that name); "
                "fix the archive",
                obj=self.obj,
            ) from None
        self._check_real_path(fd, path)
        return _Counted(os.fdopen(fd, "wb"), self)

    def _check_real_path(self, fd: int, path: PurePosixPath) -> None:
        proc = f"/proc/self/fd/{fd}"
        real = os.readlink(proc) if os.path.islink(proc) else os.path.realpath(self.root / path)
        if not Path(real).is_relative_to(self.root):
            os.close(fd)
            raise UnsafeArchiveError(
                f"entry {path.as_posix()!r} was redirected outside the target folder; the archive is hostile",
                obj=self.obj,
            )

    def account(self, size: int) -> None:
        with self._lock:
            self.written += size
        if self.written > self.limits.max_bytes:
            raise ArtifactTooLargeError(
                f"the content unpacks to more than {self.limits.max_bytes} bytes; "
                "raise max_extracted if that is expected",
                obj=self.obj,
            )


class _Counted:
    """A file being written whose bytes count against its :class:`Folder`'s cap."""

    def __init__(self, raw: BinaryIO, folder: Folder) -> None:
        self._raw = raw
        self._folder = folder

    def write(self, data: bytes) -> int:
        self._folder.account(len(data))
        return self._raw.write(data)

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _Counted:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unpack(data: bytes, dest: Path, *, limit: int, obj: str, limits: Limits | None = None) -> None:
    """Extract a (gzipped) tar archive into the folder ``dest`` (created if missing).

    Raises :class:`UnsafeArchiveError` for hostile entries, :class:`ArtifactTooLargeError`
    past the caps, :class:`SourceError` for anything that is not a readable tar archive.
    The caller owns ``dest`` and removes it on failure (nothing is half-kept).
    """
    limits = limits or Limits(max_bytes=limit)
    dest.mkdir(parents=True, exist_ok=True)
    with Folder(dest, obj, limits) as folder:
        skipped = _unpack_into(folder, data)
    if skipped:
        log.info("%s: left out %d link(s) from the archive (Flux keeps files and folders only)", obj, skipped)


def _unpack_into(folder: Folder, data: bytes) -> int:
    """Write the archive's entries into ``folder``; returns how many links were left out."""
    obj, limits, skipped = folder.obj, folder.limits, 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar:
                path = entry_path(member.name, obj=obj, limits=limits)
                if member.issym() or member.islnk():
                    if _link_escapes(path, member.linkname, hard=member.islnk()):
                        raise UnsafeArchiveError(
                            f"link {member.name!r} -> {member.linkname!r} points outside the target folder; "
                            "rebuild the archive without it (links are not kept anyway)",
                            obj=obj,
                        )
                    skipped += 1
                    folder.count()
                elif member.isdir():
                    folder.count()
                    folder.mkdir(path)
                elif member.isreg():
                    source = tar.extractfile(member)
                    assert source is not None  # a regular member always has content
                    with folder.create(path, executable=bool(member.mode & 0o111)) as out:
                        while chunk := source.read(1 << 20):
                            out.write(chunk)
                else:
                    raise UnsafeArchiveError(
                        f"entry {member.name!r} is a device, FIFO or other special file; archives hold "
                        "files and folders only",
                        obj=obj,
                    )
    except (tarfile.TarError, EOFError, OSError, ValueError) as err:
        raise SourceError(
            f"not a readable tar archive: {type(err).__name__}: {err}; push a tar+gzip artifact "
            "(e.g. flux push artifact) or select another layer",
            obj=obj,
        ) from None
    return skipped


def read_files(
    archive: Path, *, obj: str, max_file: int = 4_000_000, limits: Limits = Limits(max_bytes=256 << 20)
) -> Iterator[tuple[PurePosixPath, bytes]]:
    """The regular files of a (gzipped) tar archive, read in memory with :func:`unpack`'s entry checks.

    Files over ``max_file`` bytes are passed over; ``limits`` caps the entries and the bytes read.
    """
    entries = total = 0
    with tarfile.open(archive, mode="r:*") as tar:
        for member in tar:
            entries += 1
            if entries > limits.max_entries:
                raise ArtifactTooLargeError(f"the archive has over {limits.max_entries} entries", obj=obj)
            path = entry_path(member.name, obj=obj, limits=limits)
            handle = tar.extractfile(member) if member.isreg() and member.size <= max_file else None
            if handle is None:
                continue
            content = handle.read()
            total += len(content)
            if total > limits.max_bytes:
                raise ArtifactTooLargeError(f"the archive holds more than {limits.max_bytes} bytes", obj=obj)
            yield path, content
