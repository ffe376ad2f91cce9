"""``.sourceignore`` / ``spec.ignore`` rules with the gitignore semantics Flux applies.

Flux matches with a fork of go-git's gitignore matcher, which differs from Git in small
ways that decide what lands in an artifact: every path is judged on its own (an excluded
folder does not hide a re-included file below it), the last matching pattern wins, a
pattern without ``/`` matches any path component, and a pattern read from a nested
``.sourceignore`` only applies below that folder. The default exclusions apply only when
the user gave no pattern at all (``spec.ignore`` "overrides the default exclusion list").
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from airflow_flux_provider.patterns import Glob

SOURCEIGNORE = ".sourceignore"
VCS_PATTERNS = (".git/", ".gitignore", ".gitmodules", ".gitattributes")
DEFAULT_PATTERNS = (
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
)


@cache
def _glob(pattern: str) -> Glob | None:
    """Go ``filepath.Match`` for one path component (``None`` if malformed), in linear time."""
    return Glob.parse(pattern, separator="/")


def _matches(pattern: str, name: str) -> bool:
    glob = _glob(pattern)
    return glob is not None and glob.fullmatch(name)


@dataclass(frozen=True)
class Pattern:
    """One rule: ``domain`` is the folder (as components) whose ignore file declared it."""

    parts: tuple[str, ...]
    domain: tuple[str, ...] = ()
    negate: bool = False
    dir_only: bool = False

    @classmethod
    def parse(cls, line: str, domain: Sequence[str] = ()) -> Pattern | None:
        """Read one line; comments and blank lines give ``None``."""
        if line.startswith("#") or not line.strip():
            return None
        if not line.endswith("\\ "):
            line = line.rstrip(" ")
        negate = line.startswith("!")
        line = line[1:] if negate else line
        dir_only = line.endswith("/")
        line = line.rstrip("/") if dir_only else line
        return cls(tuple(line.split("/")), tuple(domain), negate, dir_only)

    def match(self, path: Sequence[str], is_dir: bool) -> bool:
        if len(path) <= len(self.domain) or tuple(path[: len(self.domain)]) != self.domain:
            return False
        rest = list(path[len(self.domain) :])
        return self._simple(rest, is_dir) if len(self.parts) == 1 else self._anchored(rest, is_dir)

    def _simple(self, path: list[str], is_dir: bool) -> bool:
        for i, name in enumerate(path):
            if _matches(self.parts[0], name):
                return not (self.dir_only and not is_dir and i == len(path) - 1)
        return False

    def _anchored(self, path: list[str], is_dir: bool) -> bool:
        matched, traverse = False, False
        for i, part in enumerate(self.parts):
            if part == "":
                traverse = False
                continue
            if part == "**":
                if i == len(self.parts) - 1:
                    break
                traverse = True
                continue
            if "**" in part or not path:
                return False
            if traverse:
                traverse = False
                while path:
                    name = path.pop(0)
                    if _matches(part, name):
                        matched = True
                        break
                    if not path:
                        matched = False
            else:
                if not _matches(part, path[0]):
                    return False
                matched = True
                path.pop(0)
        return not (matched and self.dir_only and not is_dir and not path) and matched


def parse_lines(text: str, domain: Sequence[str] = ()) -> list[Pattern]:
    """Every pattern of an ignore file's ``text``."""
    return [p for p in (Pattern.parse(line, domain) for line in text.splitlines()) if p is not None]


class IgnoreRules:
    """An ordered rule list; call it as ``rules(relative_posix_path, is_dir) -> ignored``."""

    def __init__(self, patterns: Iterable[Pattern] = ()) -> None:
        self.patterns = list(patterns)

    def __call__(self, path: str, is_dir: bool) -> bool:
        parts = path.strip("/").split("/")
        for pattern in reversed(self.patterns):
            if pattern.match(parts, is_dir):
                return not pattern.negate
        return False

    def __len__(self) -> int:
        return len(self.patterns)

    @classmethod
    def for_tree(cls, root: str | Path, spec_ignore: str | None = None) -> IgnoreRules:
        """What Flux applies to a Git checkout or an OCI layer: VCS files always, the defaults
        unless there is a user pattern, every ``.sourceignore`` scoped to its folder, then
        ``spec.ignore``."""
        user = [*_sourceignore_files(Path(root)), *parse_lines(spec_ignore or "")]
        base = parse_lines("\n".join(VCS_PATTERNS))
        if not user:
            base += parse_lines("\n".join(DEFAULT_PATTERNS))
        return cls([*base, *user])

    @classmethod
    def for_build(cls, folder: str | Path, extra: Sequence[str] = ()) -> IgnoreRules:
        """What ``flux build`` filters in a local folder: VCS files and the defaults always (a
        later pattern may re-include), every ``.sourceignore`` below it, then ``--ignore-paths``."""
        base = parse_lines("\n".join((*VCS_PATTERNS, *DEFAULT_PATTERNS)))
        return cls([*base, *_sourceignore_files(Path(folder)), *parse_lines("\n".join(extra))])

    @classmethod
    def for_bucket(cls, sourceignore: str | None, spec_ignore: str | None) -> IgnoreRules:
        """What Flux applies to bucket keys: the root ``.sourceignore`` and ``spec.ignore`` only."""
        return cls(parse_lines(sourceignore or "") + parse_lines(spec_ignore or ""))


def _sourceignore_files(root: Path) -> list[Pattern]:
    """Patterns of every ``.sourceignore`` below ``root`` (depth first, ``.git`` skipped)."""
    patterns: list[Pattern] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        if SOURCEIGNORE in files:
            rel = Path(folder).relative_to(root)
            domain = () if rel == Path(".") else rel.parts
            patterns += parse_lines((Path(folder) / SOURCEIGNORE).read_text(errors="replace"), domain)
    return patterns
