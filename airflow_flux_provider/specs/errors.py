"""``SpecError``: why a manifest was refused, said so a user can fix the YAML.

A message names where the object came from (file and line when known), the object as
``Kind/namespace/name``, the field path as YAML spells it (``spec.ref.semver``), what was
expected and how to fix it. Several problems in one object become one error listing each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_flux_provider.errors import FluxError

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"}]*")
_USER_AND_PASSWORD = re.compile(r"[^\s/@:'\"]+:[^\s/@'\"]+@")


def shown(value: Any) -> str:
    """A bad value as a message may quote it, with no secret in it.

    Flux specs hold no secrets themselves, but URLs can (``https://user:token@host``, a
    Slack webhook path), so every URL in the value is cut down to scheme and host, and a
    ``user:password@`` elsewhere (an scp-like Git address) loses its credentials.
    """
    if not isinstance(value, str):
        return repr(value)
    return repr(_USER_AND_PASSWORD.sub("***@", _URL.sub(_scheme_and_host, value)))


def _scheme_and_host(match: re.Match[str]) -> str:
    url = match.group(0)
    try:
        parts = urlsplit(url)
        host = f"{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
    except ValueError:
        return f"{url.split('://', 1)[0]}://…"
    # An ssh user name (git@) is no secret; over HTTP a lone user name is often a token.
    keep_user = parts.scheme == "ssh" and parts.username and parts.password is None
    user = f"{parts.username}@" if keep_user else ""
    rest = "/…" if (parts.path.strip("/") or parts.query or (parts.username and not keep_user)) else ""
    return f"{parts.scheme}://{user}{host}{rest}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of a manifest."""

    field: str | None
    message: str
    line: int | None = None

    def locator(self) -> str:
        """``field spec.x (line 3)``, ``line 3`` or empty."""
        where = f"field {self.field}" if self.field else ""
        if self.line is not None:
            where = f"{where} (line {self.line})" if where else f"line {self.line}"
        return where

    def describe(self) -> str:
        where = self.locator()
        return f"{where}: {self.message}" if where else self.message


class SpecError(FluxError):
    """A Flux/Flagger manifest that Flux itself would refuse (or that is not YAML at all)."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        obj: str | None = None,
        field: str | None = None,
        line: int | None = None,
        problems: tuple[Problem, ...] = (),
    ) -> None:
        self.source = source
        self.line = line
        self.problems = problems or (Problem(field, message, line),)
        super().__init__(message, obj=obj, field=field)

    def _format(self) -> str:
        where = self.source or ""
        if self.obj:
            where = f"{where}: {self.obj}" if where else self.obj
        if len(self.problems) == 1:
            problem = self.problems[0]
            locator = problem.locator()
            if where and locator:
                return f"{where}{' ' if self.obj else ': '}{locator}: {problem.message}"
            return f"{where or locator}: {problem.message}" if where or locator else problem.message
        lines = [f"{where}: {len(self.problems)} problems:" if where else f"{len(self.problems)} problems:"]
        lines += [f"  - {p.describe()}" for p in self.problems]
        return "\n".join(lines)
