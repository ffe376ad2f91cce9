"""What our triggers share: serialization from the constructor, and polling for a change.

Triggers are stored serialized in the Airflow DB and rebuilt with ``cls(**kwargs)``, so the
kwargs must be exactly the constructor's keyword arguments. Deriving them from the
signature keeps the two from drifting apart.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal, TypedDict

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_flux_provider.errors import FluxError


class ErrorEvent(TypedDict):
    """A trigger that could not do its check (a missing connection, an unreachable server)."""

    status: Literal["error"]
    message: str


class RecordedTrigger(BaseTrigger):
    """Serializes as its classpath and the attributes named like its ``__init__`` parameters."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        parameters = inspect.signature(type(self).__init__).parameters.values()
        names = [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
        return f"{type(self).__module__}.{type(self).__qualname__}", {n: getattr(self, n) for n in names}


async def poll_until_changed(
    check: Callable[[], Mapping[str, Any] | None], poll_interval: float
) -> AsyncIterator[TriggerEvent]:
    """Run the blocking ``check`` in a thread every ``poll_interval`` seconds until it returns
    an event payload (fired as is) or raises a ``FluxError`` (fired as ``error``).

    The first check waits one interval: the task checked just before deferring.
    """
    while True:
        await asyncio.sleep(poll_interval)
        try:
            event = await asyncio.to_thread(check)
        except FluxError as err:
            yield TriggerEvent(error_event(err))
            return
        if event is not None:
            yield TriggerEvent(dict(event))
            return


def error_event(err: FluxError) -> ErrorEvent:
    return {"status": "error", "message": str(err)}
