"""Ref names and push refspecs, checked the way ``git check-ref-format`` checks them.

These values come from manifests (``spec.ref``, ``spec.git.push``) and end up on a git
command line, so they are checked before any git runs: a value git would refuse is
reported with the field to fix, and nothing starting with ``-`` ever reaches git, where
it could be read as an option (``--receive-pack=<command>`` runs a command).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Characters git never allows in a ref name (check-ref-format rules 4 and 5), plus backslash.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
MAX_REF_LENGTH = 1024


def ref_name_problem(name: str) -> str | None:
    """Why git would refuse ``name`` as a ref name (one-level names allowed), or None if it is valid."""
    if not name:
        return "is empty"
    if len(name) > MAX_REF_LENGTH:
        return f"is longer than {MAX_REF_LENGTH} characters"
    if name.startswith("-"):
        return "starts with '-'"
    if found := _FORBIDDEN.search(name):
        return f"contains {found.group()!r} (no spaces, control characters or any of ~^:?*[\\)"
    if name == "@":
        return "is '@'"
    if "@{" in name:
        return "contains '@{'"
    if ".." in name:
        return "contains '..'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "has an empty path component (leading, trailing or doubled '/')"
    if name.endswith("."):
        return "ends with '.'"
    for part in name.split("/"):
        if part.startswith("."):
            return f"has a component starting with '.' ({part!r})"
        if part.endswith(".lock"):
            return f"has a component ending with '.lock' ({part!r})"
    return None


def branch_problem(name: str) -> str | None:
    """Why ``name`` is not a branch name git would create (``check-ref-format --branch``), or None."""
    if name == "HEAD":
        return "is 'HEAD'"
    return ref_name_problem(name)


def check_branch(name: str, field: str) -> str:
    """``name`` if it is a valid branch name; else ValueError naming ``field`` and the rule."""
    if problem := branch_problem(name):
        raise ValueError(f"{field} {name!r} is not a valid Git branch name: it {problem}")
    return name


@dataclass(frozen=True)
class RefSpec:
    """A push refspec ``<src>:<dst>`` as Flux accepts it: no force (``+``), no deletion (empty src)."""

    src: str
    dst: str

    @classmethod
    def parse(cls, text: str) -> RefSpec:
        """Parse ``text``; ValueError says what is wrong and how to write it instead."""
        example = "write <src>:<dst>, e.g. refs/heads/main:refs/heads/auto or HEAD:refs/for/main"
        if text.startswith("-"):
            raise ValueError(
                f"refspec {text!r} starts with '-', which git would read as an option; {example}"
            )
        if text.startswith("+"):
            raise ValueError(
                f"refspec {text!r} forces the update with '+', which image automation does not do; "
                "drop the '+'"
            )
        src, colon, dst = text.partition(":")
        if not colon or ":" in dst:
            raise ValueError(f"refspec {text!r} is not <src>:<dst> with exactly one ':'; {example}")
        if not src:
            raise ValueError(f"refspec {text!r} deletes {dst!r} (empty source), which is not supported")
        for side, value in (("source", src), ("destination", dst)):
            if side == "source" and (value == "HEAD" or _SHA.fullmatch(value)):
                continue
            if problem := ref_name_problem(value):
                raise ValueError(f"refspec {text!r}: the {side} {value!r} {problem}; {example}")
        return cls(src, dst)

    def __str__(self) -> str:
        return f"{self.src}:{self.dst}"
