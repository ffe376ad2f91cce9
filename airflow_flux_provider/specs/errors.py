"""``SpecError``: why a manifest was refused, said so a user can fix the YAML.

A message names where the object came from (file and line when known), the object as
``Kind/namespace/name``, the field path as YAML spells it (``spec.ref.semver``), what was
expected and how to fix it. Several problems in one object become one error listing each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_flux_provider.credentials import redact_urls
from airflow_flux_provider.errors import FluxError


def shown(value: Any) -> str:
    """A bad value as a message may quote it, with no secret in it.

    Flux specs hold no secrets themselves, but URLs can (``https://user:token@host``, a
    Slack webhook path), so every URL in the value is cut down to scheme and host, and a
    ``user:password@`` elsewhere (an scp-like Git address) loses its credentials.
    """
    return repr(redact_urls(value, keep_path=False) if isinstance(value, str) else value)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of a manifest."""

    field: str | None
    message: str
    line: int | None = None
    #: the value holds a ``${VAR}`` placeholder, so it may be fine once substituted
    placeholder: bool = False

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
