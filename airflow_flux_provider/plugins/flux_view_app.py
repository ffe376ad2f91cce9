"""The FastAPI app behind :class:`~airflow_flux_provider.plugins.flux_view.FluxViewPlugin`: the
"Flux" view of the Airflow UI, the Flux objects of each cluster connection as Flux users read
them, beside the DAG runs that reconciled them. Only the API server imports it.

The API server serves it at ``/flux-view/`` (a FastAPI app: one HTML page, a script, and a JSON
API the script reads) and the nav shows it as "Flux" (an external view, embedded by the UI).
Login and permissions are Airflow's own: the page and the API take the user from Airflow's
JWT cookie like the REST API does (logged out: the login page, then back); reading needs DAG
read access, and the run links shown are only those of DAGs the user may read. "Reconcile now"
and "Suspend"/"Resume" act on an object only for a user allowed to trigger the DAG that last
reconciled it: they stamp ``reconcile.fluxcd.io/requestedAt`` (or set ``spec.suspend``) and
trigger that DAG, as ``flux reconcile``/``flux suspend`` would for a controller. Nothing else
writes: the cluster is read through :mod:`airflow_flux_provider.kube.overview`, Airflow's
metadata through the XComs the tasks push (:mod:`airflow_flux_provider.links.flux_view`).
"""

from __future__ import annotations

import html
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from airflow.api.common.trigger_dag import trigger_dag
from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import get_user
from airflow.models.connection import Connection
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from airflow.utils.types import DagRunTriggeredByType
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from sqlalchemy import select

from airflow_flux_provider.canary.timeline import Threshold, thresholds, timeline_svg
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.hooks import KUBERNETES_CONN_ID
from airflow_flux_provider.hooks.kubernetes import ClusterHook
from airflow_flux_provider.kube import overview
from airflow_flux_provider.links.flux_view import FLUX_OBJECT_KEY
from airflow_flux_provider.links.mlflow import MLFLOW_RUN_URL_KEY
from airflow_flux_provider.operators.canary import PROGRESS_KEY
from airflow_flux_provider.specs import parse_object
from airflow_flux_provider.specs.flagger import Canary

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
_NO_READ = "reading the Flux view needs read access to DAGs"
#: how many task records are searched for the last run of each object (newest first)
_RECENT_TASKS = 5000


@dataclass(frozen=True)
class LastRun:
    """The task that last acted on an object, and where the UI shows it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    when: str

    @property
    def url(self) -> str:
        dag, run, task = (quote(part, safe="") for part in (self.dag_id, self.run_id, self.task_id))
        return f"/dags/{dag}/runs/{run}/tasks/{task}"


ObjectId = tuple[str, str, str, str]  # cluster connection, kind, namespace, name


class ActionRequest(BaseModel):
    cluster: str
    kind: str
    namespace: str
    name: str
    action: Literal["reconcile", "suspend", "resume"]


# -- Airflow's metadata ------------------------------------------------------------------------------
def last_runs(readable_dags: set[str]) -> dict[ObjectId, LastRun]:
    """The newest task of a readable DAG that pushed a pointer to each object."""
    found: dict[ObjectId, LastRun] = {}
    query = (
        select(XComModel)
        .where(XComModel.key == FLUX_OBJECT_KEY, XComModel.dag_id.in_(readable_dags))
        .order_by(XComModel.timestamp.desc())
        .limit(_RECENT_TASKS)
    )
    with create_session() as session:
        for row in session.scalars(query):
            pointer = XComModel.deserialize_value(row)
            if not isinstance(pointer, dict):
                continue
            parts = [pointer.get(field) for field in ("cluster", "kind", "namespace", "name")]
            key = (str(parts[0]), str(parts[1]), str(parts[2]), str(parts[3]))
            if all(isinstance(part, str) for part in parts) and key not in found:
                when = row.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
                found[key] = LastRun(row.dag_id, row.run_id, row.task_id, row.map_index, when)
    return found


def task_xcom(run: LastRun, key: str) -> Any:
    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == run.dag_id,
                XComModel.run_id == run.run_id,
                XComModel.task_id == run.task_id,
                XComModel.map_index == run.map_index,
                XComModel.key == key,
            )
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def cluster_ids(runs: dict[ObjectId, LastRun]) -> list[str]:
    """The clusters to show: every ``kubernetes`` connection in the metadata DB, and those the
    tasks named (they may come from a secrets backend, which cannot be listed)."""
    with create_session() as session:
        stored = session.scalars(select(Connection.conn_id).where(Connection.conn_type == "kubernetes")).all()
    named = {cluster for cluster, *_ in runs}
    return sorted(set(stored) | named) or [KUBERNETES_CONN_ID]


def _cluster(conn_id: str) -> Any:
    return ClusterHook(conn_id).cluster()


def _problem(err: Exception, what: str) -> str:
    """What to show for a failed read: our errors say what to fix; anything else only its type."""
    if isinstance(err, FluxError):
        return str(err)
    log.exception("Flux view: %s failed", what)
    return f"{what} failed ({type(err).__name__}); the API server log has the details"


# -- the dependsOn graph -------------------------------------------------------------------------------
def graph_svg(objects: list[dict[str, Any]]) -> str:
    """Objects that depend on others or are depended on, in columns by depth (a dependency left of
    its dependants); each node names its object (``data-ref``) so the page can open it."""
    by_ref = {o["ref"]: o for o in objects}
    edges = [(dep, o["ref"]) for o in objects for dep in o["depends_on"]]
    involved = sorted({ref for edge in edges for ref in edge})
    if not involved:
        return ""
    depth: dict[str, int] = {}

    def level(ref: str, seen: frozenset[str] = frozenset()) -> int:
        if ref not in depth:
            deps = [d for d in (by_ref.get(ref) or {}).get("depends_on", []) if d not in seen]
            depth[ref] = 1 + max((level(d, seen | {ref}) for d in deps), default=-1)
        return depth[ref]

    columns: dict[int, list[str]] = {}
    for ref in involved:
        columns.setdefault(level(ref), []).append(ref)
    width, height, gap_x, gap_y = 230, 34, 60, 14
    place = {ref: (col * (width + gap_x) + 4, row * (height + gap_y) + 4)
             for col, refs in columns.items() for row, ref in enumerate(refs)}  # fmt: skip
    parts = []
    for dep, ref in edges:
        (x1, y1), (x2, y2) = place[dep], place[ref]
        parts.append(
            f'<line x1="{x1 + width}" y1="{y1 + height / 2}" x2="{x2}" y2="{y2 + height / 2}" '
            'stroke="#888" marker-end="url(#arrow)"/>'
        )
    for ref, (x, y) in place.items():
        ready = (by_ref.get(ref) or {}).get("ready", "missing")
        fill = {"True": "#e8f5e9", "False": "#ffebee"}.get(ready, "#f5f5f5")
        label = ref if len(ref) <= 34 else "…" + ref[-33:]
        parts.append(
            f'<g class="node" data-ref="{html.escape(ref)}"><rect x="{x}" y="{y}" width="{width}" '
            f'height="{height}" rx="4" fill="{fill}" stroke="#999"/>'
            f'<text x="{x + 6}" y="{y + 21}">{html.escape(label)}</text>'
            f"<title>{html.escape(ref)}: Ready {html.escape(ready)}</title></g>"
        )
    total_w = (max(columns) + 1) * (width + gap_x)
    total_h = max(len(refs) for refs in columns.values()) * (height + gap_y) + 8
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="depends-on" width="{total_w}" height="{total_h}" '
        'font-family="sans-serif" font-size="11"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" '
        'refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#888"/>'
        f"</marker></defs>{''.join(parts)}</svg>"
    )


# -- the app -----------------------------------------------------------------------------------------
def create_app() -> Any:
    app = FastAPI(title="Flux view", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def reader(user: Any = Depends(get_user)) -> Any:
        """The user of the request (Airflow's cookie or a Bearer token), who must be allowed to read
        DAGs (a viewer is)."""
        if not get_auth_manager().is_authorized_dag(method="GET", user=user):
            raise HTTPException(403, _NO_READ)
        return user

    def may_trigger(user: Any, run: LastRun | None) -> bool:
        return run is not None and get_auth_manager().is_authorized_dag(
            method="POST", access_entity=DagAccessEntity.RUN, details=DagDetails(id=run.dag_id), user=user
        )

    def runs_for(user: Any) -> dict[ObjectId, LastRun]:
        return last_runs(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))

    def known_cluster(cluster: str, runs: dict[ObjectId, LastRun]) -> str:
        if cluster not in cluster_ids(runs):
            raise HTTPException(404, f"no kubernetes connection {cluster!r} is shown in the Flux view")
        return cluster

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request) -> Response:
        """The page for a browser: logged out (or expired), the login page, which comes back here."""
        try:
            user = await get_user(request, None, None)  # the browser's cookie
        except HTTPException:
            login = get_auth_manager().get_url_login(next_url=str(request.url))
            return RedirectResponse(login, status_code=303)
        if not get_auth_manager().is_authorized_dag(method="GET", user=user):
            return HTMLResponse(_NO_READ, status_code=403)
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/objects")
    def objects(user: Any = Depends(reader)) -> dict[str, Any]:
        runs = runs_for(user)
        clusters = []
        for conn_id in cluster_ids(runs):
            rows: list[dict[str, Any]] = []
            error = None
            try:
                for row in overview.list_objects(_cluster(conn_id)):
                    run = runs.get((conn_id, row.kind, row.namespace, row.name))
                    rows.append({**asdict(row), "ref": row.ref, "last_run": _run_json(run),
                                 "can_act": may_trigger(user, run)})  # fmt: skip
            except Exception as err:
                error = _problem(err, f"reading cluster connection '{conn_id}'")
            clusters.append({"id": conn_id, "error": error, "objects": rows, "graph": graph_svg(rows)})
        return {"user": user.get_name(), "groups": overview.GROUPS, "clusters": clusters}

    @app.get("/api/object")
    def detail(
        cluster: str, kind: str, namespace: str, name: str, user: Any = Depends(reader)
    ) -> dict[str, Any]:
        runs = runs_for(user)
        conn_id = known_cluster(cluster, runs)
        try:
            found = overview.object_detail(_cluster(conn_id), kind, namespace, name)
        except Exception as err:
            raise HTTPException(404, _problem(err, f"reading {kind}/{namespace}/{name}")) from None
        run = runs.get((conn_id, kind, namespace, name))
        result = {
            **asdict(found),
            "ref": found.summary.ref,
            "last_run": _run_json(run),
            "can_act": may_trigger(user, run),
        }
        del result["live"]
        outcome = task_xcom(run, "return_value") if run else None
        result["changes"] = outcome.get("changes", []) if isinstance(outcome, dict) else []
        result["mlflow_url"] = task_xcom(run, MLFLOW_RUN_URL_KEY) if run else None
        result["canary_chart"], result["canary_steps"] = "", []
        if kind == "Canary" and run:
            progress = task_xcom(run, PROGRESS_KEY) or {}
            steps = progress.get("steps") or [] if isinstance(progress, dict) else []
            result["canary_chart"] = timeline_svg(steps, _thresholds(found.live))
            result["canary_steps"] = steps
        return result

    @app.post("/api/action")
    def act(action: ActionRequest, user: Any = Depends(reader)) -> dict[str, str]:
        runs = runs_for(user)
        conn_id = known_cluster(action.cluster, runs)
        run = runs.get((conn_id, action.kind, action.namespace, action.name))
        if run is None or not may_trigger(user, run):
            raise HTTPException(
                403, "only a user allowed to trigger the DAG that reconciles this object may do that"
            )
        cluster = _cluster(conn_id)
        ref = f"{action.kind}/{action.namespace}/{action.name}"
        try:
            if action.action == "reconcile":
                stamp = overview.request_reconcile(cluster, action.kind, action.namespace, action.name)
                message = f"{ref}: reconcile requested at {stamp}"
            else:
                suspend = action.action == "suspend"
                overview.set_suspended(cluster, action.kind, action.namespace, action.name, suspend)
                message = f"{ref}: {'suspended' if suspend else 'resumed'}"
        except FluxError as err:
            raise HTTPException(409, str(err)) from None
        if action.action != "suspend":
            dag_run = trigger_dag(
                run.dag_id, triggered_by=DagRunTriggeredByType.UI, triggering_user_name=user.get_name()
            )
            message += f"; DAG {run.dag_id} triggered ({dag_run.run_id if dag_run else 'no run created'})"
        log.info("Flux view: %s by %s", message, user.get_name())
        return {"message": message}

    return app


def _run_json(run: LastRun | None) -> dict[str, Any] | None:
    return None if run is None else {**asdict(run), "url": run.url}


def _thresholds(live: dict[str, Any]) -> list[Threshold]:
    """The Canary's metric thresholds, if its live spec still parses (else the chart has none)."""
    try:
        canary = parse_object({k: v for k, v in live.items() if k != "status"})
    except FluxError:
        return []
    return thresholds(canary) if isinstance(canary, Canary) else []
