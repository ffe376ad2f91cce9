"""What a command reports while it works, for people and for scripts; one way for every command.

People (``--output text``, the default) get the ``flux`` CLI's lines: ``►`` for what happened,
``✔`` for an object that is Ready, ``✗`` (on stderr) for one that is not. While a long step runs
(a fetch, a build, an apply, a health wait) a terminal also shows one status line on stderr,
``[3/12] apply Kustomization/flux-system/apps … 4s``, rewritten in place and erased when the
step ends; when stderr is not a terminal (CI logs, pipes) nothing of it is written.

Scripts (``--output json``) get nothing on stdout while the command runs and then one JSON
document: ``{"ok", "summary", "objects": [{"ref", "status", "message"}], "events": [{"ref", "message"}]}``,
so ``| jq`` sees every object's outcome without parsing symbols. Whatever else writes to stdout
meanwhile (log lines, helm or kubectl) goes to stderr instead: the document is all stdout holds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Literal, TextIO

Status = Literal["ready", "failed", "suspended"]
_FRAME_SECONDS = 0.2


def add_output_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="text for people (progress on a terminal), json: one document on stdout at the end",
    )


@dataclass
class Outcome:
    ref: str
    status: Status
    message: str


@dataclass
class Event:
    ref: str
    message: str


@dataclass
class Progress:
    """The report of one command run; :meth:`finish` ends it and gives the exit code."""

    output: Literal["text", "json"] = "text"
    total: int = 0
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    objects: list[Outcome] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    done: int = 0
    summary: str = ""
    _line: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def of(cls, args: argparse.Namespace, total: int = 0) -> Progress:
        if getattr(args, "output", "text") != "json":
            return cls(total=total)
        return cls(output="json", total=total, out=_stdout_for_the_document())

    @property
    def live(self) -> bool:
        """Whether a status line is drawn: people on a terminal only."""
        return self.output == "text" and self.err.isatty()

    # -- what happened ------------------------------------------------------------------------------
    def event(self, ref: str, message: str) -> None:
        """``► ref message``: something done on the way (fetched, created, installed)."""
        self.events.append(Event(ref, message))
        self._print(self.out, f"► {ref} {message}".rstrip())

    def ready(self, ref: str, message: str, *, line: Literal["✔", "►"] = "✔") -> None:
        """``✔ ref Ready: message``; ``line="►"`` prints ``► ref message`` (a fetched source)."""
        text = f"✔ {ref} Ready: {message}" if line == "✔" else f"► {ref} {message}"
        self._outcome(Outcome(ref, "ready", message), self.out, text)

    def suspended(self, ref: str, why: str) -> None:
        """``► why``: the object is left alone (``why`` names it and how to resume it)."""
        self._outcome(Outcome(ref, "suspended", why), self.out, f"► {why}")

    def failed(self, ref: str, message: str) -> None:
        self._outcome(Outcome(ref, "failed", message), self.err, f"✗ {ref} not Ready: {message}")

    def conclude(self, message: str) -> None:
        """``✔ message``: the command's one-line result (the JSON document's ``summary``)."""
        self.summary = message
        self._print(self.out, f"✔ {message}")

    def _outcome(self, outcome: Outcome, stream: TextIO, line: str) -> None:
        self.objects.append(outcome)
        self.done += 1
        self._print(stream, line)

    def _print(self, stream: TextIO, line: str) -> None:
        if self.output == "text":
            with self._lock:
                self._erase()
                print(line, file=stream, flush=True)

    # -- while a step runs ------------------------------------------------------------------------
    @contextmanager
    def step(self, action: str, ref: str) -> Iterator[None]:
        """Show ``[done/total] action ref … seconds`` on a terminal while the block runs."""
        if not self.live:
            yield
            return
        stop = threading.Event()
        started = time.monotonic()
        counter = f"[{self.done + 1}/{self.total}] " if self.total else ""

        def draw() -> None:
            while True:
                with self._lock:
                    self._erase()
                    self._line = f"{counter}{action} {ref} … {time.monotonic() - started:.0f}s"
                    self.err.write(self._line)
                    self.err.flush()
                if stop.wait(_FRAME_SECONDS):
                    return

        drawer = threading.Thread(target=draw, name="progress", daemon=True)
        drawer.start()
        try:
            yield
        finally:
            stop.set()
            drawer.join()
            with self._lock:
                self._erase()

    def _erase(self) -> None:
        if self._line:
            self.err.write("\r" + " " * len(self._line) + "\r")
            self.err.flush()
            self._line = ""

    # -- the end ----------------------------------------------------------------------------------
    def finish(self) -> int:
        """1 when any object failed, else 0; with ``--output json``, the document on stdout."""
        ok = not any(o.status == "failed" for o in self.objects)
        if self.output == "json":
            document = {
                "ok": ok,
                "summary": self.summary,
                "objects": [asdict(o) for o in self.objects],
                "events": [asdict(e) for e in self.events],
            }
            json.dump(document, self.out, indent=2)
            self.out.write("\n")
            self.out.flush()
        return 0 if ok else 1


def _stdout_for_the_document() -> TextIO:
    """Stdout kept for the JSON document alone: file descriptor 1 (logging, child processes) is
    pointed at stderr, the document gets a duplicate of the real stdout."""
    sys.stdout.flush()
    try:
        real = os.dup(sys.stdout.fileno())
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    except OSError:  # no file descriptors (stdout replaced in-process): nothing else to keep out
        return sys.stdout
    return os.fdopen(real, "w", encoding="utf-8")
