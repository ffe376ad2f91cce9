"""Semver range syntax (Masterminds/semver v3, as every Flux controller parses it).

Only the syntax is checked here, so that a bad ``ref.semver`` or ImagePolicy
``semver.range`` is refused when the manifest is read; which version a range selects is
decided by the code that lists tags. Grammar: ``||`` separates alternatives; inside one,
comparators (``=``, ``!=``, ``>``, ``<``, ``>=``, ``<=``, ``~``, ``~>``, ``^`` or none)
are separated by spaces or commas; ``x``/``X``/``*`` are wildcards; ``1.2 - 1.4.5`` is a
hyphen range. Each version part is ``0`` or a number without leading zeros.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_PART = r"[0-9|xX*]+"
_IDENTS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION = rf"v?{_PART}(?:\.{_PART})?(?:\.{_PART})?(?:-{_IDENTS})?(?:\+{_IDENTS})?"
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_RANGE = re.compile(rf"\s*(?P<low>{_VERSION})\s+-\s+(?P<high>{_VERSION})\s*")
_FIND = re.compile(rf"(?:{_OPS})\s*{_VERSION}")
_VALID = re.compile(rf"^\s*(?:{_OPS})\s*{_VERSION}\s*(?:(?:\s+|,\s*)(?:{_OPS})\s*{_VERSION}\s*)*$")
_ONE = re.compile(
    rf"^\s*(?:{_OPS})\s*(?P<version>v?(?P<major>{_PART})(?P<minor>\.{_PART})?(?P<patch>\.{_PART})?"
    rf"(?P<pre>-{_IDENTS})?(?:\+{_IDENTS})?)\s*$"
)
_NUMBER = r"(?:0|[1-9]\d*)"
_PRE_IDENT = rf"(?:{_NUMBER}|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
_STRICT = re.compile(
    rf"^v?{_NUMBER}(?:\.{_NUMBER})?(?:\.{_NUMBER})?(?:-{_PRE_IDENT}(?:\.{_PRE_IDENT})*)?(?:\+{_IDENTS})?$"
)
_WILDCARDS = ("x", "X", "*")
_EXAMPLES = "write e.g. >=1.0.0, 1.2.x, ~1.2, ^1.0 or >=1.0.0 <2.0.0 (|| between alternatives)"


def validate_constraint(text: str) -> str:
    """Return ``text`` if it is a semver range Flux accepts, else raise ``ValueError`` saying why."""
    rewritten = _RANGE.sub(lambda m: f">= {m['low']}, <= {m['high']} ", text)
    for alternative in rewritten.split("||"):
        if not _VALID.match(alternative):
            raise ValueError(f"semver range {text!r} is not valid near {alternative.strip()!r}; {_EXAMPLES}")
        for comparator in _FIND.findall(alternative):
            _check_version(comparator, text)
    return text


#: A semver range field, refused as the manifest is read when Flux could not parse it.
SemverRange = Annotated[str, AfterValidator(validate_constraint)]


def _check_version(comparator: str, text: str) -> None:
    match = _ONE.match(comparator)
    parts = [match["major"], (match["minor"] or "")[1:], (match["patch"] or "")[1:]] if match else []
    if match is None or any(p and p not in _WILDCARDS and not p.isdigit() for p in parts):
        raise ValueError(f"semver range {text!r}: {comparator.strip()!r} is not a version; {_EXAMPLES}")
    # A wildcard or missing part ends the version there, as Masterminds reads it.
    wild = next((i for i, p in enumerate(parts) if not p or p in _WILDCARDS), None)
    if wild is None:
        version = match["version"]
    else:
        version = ".".join([*parts[:wild], *["0"] * (3 - wild)]) + (match["pre"] or "")
    if not _STRICT.match(version):
        raise ValueError(
            f"semver range {text!r}: {comparator.strip()!r} is not a valid version "
            f"(no leading zeros in numbers); {_EXAMPLES}"
        )
