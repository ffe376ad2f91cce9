"""Trigger conf keys a DAG does not read fail the run's first task, naming them.

Airflow merges a run's conf into its params and keeps keys no param declares, so a misspelt
``LEARNIN_RATE`` sent through the REST API is ignored and the run goes on with the defaults.
A DAG that declares params says which keys a run takes; the DAG factory adds the ``${VAR}``
placeholders of the manifests it turned into tasks, and its first tasks (the source fetches
and image scans) run :class:`ConfCheck` before they start. A DAG without params takes any
key: its conf may carry postBuild variables that only the manifests in Git read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: At most this many unknown keys are quoted, each cut to this many characters (the conf is the caller's).
_SHOWN, _LENGTH = 20, 60


@dataclass(frozen=True)
class ConfCheck:
    """A ``pre_execute`` hook: fail (without retries) when the conf holds a key the DAG does not read."""

    placeholders: frozenset[str]

    def __call__(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        declared = set(context["dag"].params)
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        if not declared:
            return
        known = declared | self.placeholders
        unknown = sorted(str(key) for key in conf if key not in known)
        if unknown:
            more = " ..." if len(unknown) > _SHOWN else ""
            shown = ", ".join(_cut(key) for key in unknown[:_SHOWN]) + more
            raise AirflowFailException(
                f"DAG {context['dag'].dag_id}: the trigger conf holds key(s) this DAG does not read: "
                f"{shown}; it reads {', '.join(sorted(known))}. Fix the key, or declare it as a DAG param"
            )


def _cut(key: str) -> str:
    return repr(key if len(key) <= _LENGTH else f"{key[:_LENGTH]}...")
