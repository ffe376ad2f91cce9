"""The semver range fields of Flux specs, refused when the manifest is read if Flux could not parse them.

The check is the project's one semver (:mod:`airflow_flux_provider.semver`, Masterminds rules),
the same code that later selects versions with the range.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from airflow_flux_provider.semver import Constraint, SemverError


def validate_constraint(text: str) -> str:
    """Return ``text`` if it is a semver range Flux accepts, else raise ``ValueError`` saying why."""
    try:
        Constraint.parse(text)
    except SemverError as err:
        raise ValueError(err.message) from None
    return text


#: A semver range field (``ref.semver``, ``policy.semver.range``).
SemverRange = Annotated[str, AfterValidator(validate_constraint)]
