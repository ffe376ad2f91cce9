"""The "Flux view" button on a task: opens the page of the Flux object the task reconciled.

A reconcile, release or canary task pushes a :class:`FluxObjectPointer` (which cluster
connection, which object) as XCom :data:`FLUX_OBJECT_KEY`. The button reads it back, and the
Flux view reads the same XComs to tell which DAG run last acted on each object: one record
serves both, and Airflow keeps it with the run it belongs to.
"""

from __future__ import annotations

from typing import Any, TypedDict
from urllib.parse import urlencode

from airflow.sdk import BaseOperatorLink, Context
from airflow.sdk.execution_time.xcom import XCom

FLUX_OBJECT_KEY = "flux_object"
#: where the API server serves the view (plugins/flux_view.py)
VIEW_PATH = "/flux-view"


class FluxObjectPointer(TypedDict):
    cluster: str  # the kubernetes connection id
    kind: str
    namespace: str
    name: str


def push_flux_object(context: Context, cluster: str, kind: str, namespace: str, name: str) -> None:
    pointer: FluxObjectPointer = {"cluster": cluster, "kind": kind, "namespace": namespace, "name": name}
    context["ti"].xcom_push(key=FLUX_OBJECT_KEY, value=pointer)


def object_page(pointer: FluxObjectPointer) -> str:
    """The view's page of one object, relative to the UI's host."""
    query = {
        "cluster": pointer["cluster"],
        "object": f"{pointer['kind']}/{pointer['namespace']}/{pointer['name']}",
    }
    return f"{VIEW_PATH}/?{urlencode(query)}"


class FluxViewLink(BaseOperatorLink):
    name = "Flux view"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        pointer = XCom.get_value(ti_key=ti_key, key=FLUX_OBJECT_KEY)
        return object_page(pointer) if pointer else ""
