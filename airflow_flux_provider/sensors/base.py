"""``ChangeSensor``: the deferrable "poll until the choice differs from the last one" flow.

A source revision and an image policy's tag are watched the same way: one blocking check
per poke (or the same check in the triggerer when deferrable), success when it returns an
event payload, and that payload put on the task's Asset events. Subclasses say what to
check, which trigger to defer to and which fields of the payload the Asset event carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

from airflow.sdk import Asset, BaseSensorOperator, Context, PokeReturnValue
from airflow.triggers.base import BaseTrigger

from airflow_flux_provider.errors import FluxError


class ChangeSensor(BaseSensorOperator):
    #: the message when a trigger's failure event has none
    trigger_failed: ClassVar[str] = "the trigger failed"
    #: the fields of the ``changed`` payload the outlets' Asset events carry as extra
    extra_fields: ClassVar[tuple[str, ...]] = ()
    #: the ``status`` of the trigger event that ends the wait (any other is a failure)
    fired: ClassVar[str] = "changed"

    def __init__(self, *, deferrable: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable

    def check(self) -> Mapping[str, Any] | None:
        """Blocking: the ``changed`` event payload, or None while nothing changed."""
        raise NotImplementedError

    def trigger(self) -> BaseTrigger:
        """The trigger that runs :meth:`check`'s logic in the triggerer."""
        raise NotImplementedError

    def poke(self, context: Context) -> PokeReturnValue:
        event = self.check()
        if event is not None:
            self._record(context, event)
        return PokeReturnValue(event is not None, xcom_value=event)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        event = self.check()  # a change that is already there needs no trip through the triggerer
        if event is not None:
            self._record(context, event)
            return event
        self.defer(
            trigger=self.trigger(),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: Mapping[str, Any]) -> Mapping[str, Any]:
        """``event`` is the trigger's: its ``changed`` payload, or an ``ErrorEvent``."""
        if event.get("status") != self.fired:
            raise FluxError(str(event.get("message", self.trigger_failed)), obj=f"task '{self.task_id}'")
        self._record(context, event)
        return event

    def _record(self, context: Context, event: Mapping[str, Any]) -> None:
        """Put the new choice on the Asset outlets' events."""
        outlet_events = context.get("outlet_events") if hasattr(context, "get") else None
        if outlet_events is None:
            return
        extra = {name: event[name] for name in self.extra_fields}
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                outlet_events[outlet].extra = extra
