"""What every hostile or broken input must produce: one clear error, nothing else."""

from __future__ import annotations

import re
from collections.abc import Iterable

from airflow_flux_provider.errors import FluxError

#: A message says what to do: an instruction or what was expected instead.
FIX = re.compile(
    r"\b(use|set|write|fix|check|remove|add|quote|send|shorten|rename|raise|name|create|install|point|"
    r"narrow|pass|split|leave|select|configure|change|grant|refresh|expected|one of|e\.g\.|retry|"
    r"must|should|only|accepted|allowed|supported|needs?|requires?|valid|regenerate|rebuild|repair|push|"
    r"ask|wait|replace|delete|try|drop|keep|give|verify|ensure|see|reproduce|list|lower|increase|put|"
    r"provide|make|send|limit|flatter|without|allow|vendor|save)\b",
    re.IGNORECASE,
)


def assert_clean(
    err: BaseException,
    *,
    family: type[BaseException] = FluxError,
    obj: str | None = None,
    field: str | None = None,
    secrets: Iterable[str] = (),
) -> str:
    """``err`` is of ``family``, names ``obj`` and ``field``, says what to do, and leaks nothing."""
    text = str(err)
    assert isinstance(err, family), f"{type(err).__name__}: {text[:300]}"
    assert "Traceback" not in text and 'File "' not in text, text[:300]
    if obj is not None:
        assert obj in text, f"{obj!r} not named in {text[:300]!r}"
    if field is not None:
        assert field in text, f"{field!r} not named in {text[:300]!r}"
    for secret in secrets:
        assert secret not in text, "a secret leaked into the message"
    assert FIX.search(text), f"no fix in {text[:300]!r}"
    return text
