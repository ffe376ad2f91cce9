"""Container logs in the CRI format a kubelet keeps, and reading them as ``kubectl logs`` asks.

Each line of a container's output is stored as ``<RFC 3339 time> <stream> <F|P> <text>``
(``P`` for a piece of a line longer than 16 KiB), so the log endpoint can add timestamps,
keep the last N lines, start at a time and stop at a byte budget. A file past 10 MiB is
rotated once (``.1``), as the kubelet's ``containerLogMaxSize`` does.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MAX_LINE = 16 * 1024
MAX_FILE = 10 * 1024 * 1024
FOLLOW_POLL = 0.1


def _stamp() -> bytes:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()


class LogWriter:
    """Appends both streams of one container run to its log file (thread-safe, rotated at the cap)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._out = open(path, "ab")  # noqa: SIM115 - closed by close(), it outlives this call
        self._size = self._out.tell()

    def pump(self, stream: IO[bytes], name: str) -> None:
        """Copy ``stream`` line by line until it ends (run in a thread per stream)."""
        for line in iter(lambda: stream.readline(MAX_LINE), b""):
            tag = b"F" if line.endswith(b"\n") else b"P"
            self.write(name.encode(), tag, line if tag == b"F" else line + b"\n")
        stream.close()

    def write(self, stream: bytes, tag: bytes, text: bytes) -> None:
        record = b" ".join((_stamp(), stream, tag, text))
        with self._lock:
            if self._out.closed:
                return
            if self._size + len(record) > MAX_FILE:
                self._out.close()
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                self._out = open(self.path, "ab")  # noqa: SIM115
                self._size = 0
            self._out.write(record)
            self._out.flush()
            self._size += len(record)

    def close(self) -> None:
        with self._lock:
            self._out.close()


@dataclass(frozen=True)
class LogOptions:
    """What ``kubectl logs`` asks: tailLines, sinceSeconds/sinceTime, timestamps, limitBytes."""

    tail_lines: int | None = None
    since: datetime.datetime | None = None
    timestamps: bool = False
    limit_bytes: int | None = None


def _snapshot(path: Path) -> tuple[list[bytes], int]:
    """Every record written so far (the rotated part first) and the size of the current file read."""
    records: list[bytes] = []
    with contextlib.suppress(FileNotFoundError):
        records += path.with_name(path.name + ".1").read_bytes().splitlines(keepends=True)
    try:
        current = path.read_bytes()
    except FileNotFoundError:
        current = b""
    complete = current[: current.rfind(b"\n") + 1]
    return records + complete.splitlines(keepends=True), len(complete)


def _render(record: bytes, options: LogOptions) -> bytes | None:
    """A stored record as the client sees it (None when it is before ``since``)."""
    try:
        stamp, _stream, tag, text = record.split(b" ", 3)
    except ValueError:
        return None
    if options.since is not None:
        when = datetime.datetime.strptime(stamp.decode()[:26], "%Y-%m-%dT%H:%M:%S.%f")
        if when.replace(tzinfo=datetime.UTC) < options.since:
            return None
    if tag == b"P":
        text = text[:-1]
    return stamp + b" " + text if options.timestamps else text


class _Budget:
    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def take(self, data: bytes) -> bytes:
        if self.left is None:
            return data
        data = data[: self.left]
        self.left -= len(data)
        return data

    @property
    def spent(self) -> bool:
        return self.left is not None and self.left <= 0


def read(path: Path, options: LogOptions) -> bytes:
    """The whole log as it stands."""
    return b"".join(follow(path, options, running=lambda: False))


def follow(path: Path, options: LogOptions, *, running: Callable[[], bool]) -> Iterator[bytes]:
    """The log, then whatever is appended while ``running()`` says the container still runs."""
    budget = _Budget(options.limit_bytes)
    records, offset = _snapshot(path)
    kept = [text for text in (_render(r, options) for r in records) if text is not None]
    lines = deque(kept, maxlen=options.tail_lines) if options.tail_lines is not None else kept
    for text in lines:
        yield budget.take(text)
        if budget.spent:
            return
    alive = running()
    while alive and not budget.spent:
        time.sleep(FOLLOW_POLL)
        alive = running()  # read once more after the container stopped: its last lines
        try:
            with open(path, "rb") as handle:
                if os.fstat(handle.fileno()).st_size < offset:  # rotated: start the new file
                    offset = 0
                handle.seek(offset)
                chunk = handle.read()
        except FileNotFoundError:
            continue
        chunk = chunk[: chunk.rfind(b"\n") + 1]  # whole records only; the rest comes next time
        offset += len(chunk)
        for record in chunk.splitlines(keepends=True):
            rendered = _render(record, options)
            if rendered is not None:
                yield budget.take(rendered)
