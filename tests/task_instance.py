"""A stand-in for the task instance in an operator's context: the attributes operators read
(for MLflow tags and links) and the XCom values they push."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskInstance:
    dag_id: str = "dag"
    run_id: str = "manual__1"
    task_id: str = "task"
    try_number: int = 1
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value
