"""The FastAPI app behind :class:`~airflow_flux_provider.plugins.receivers.FluxReceiverPlugin`.

Kept apart from the plugin class so that processes which load plugins but serve no HTTP
(workers, the scheduler) never import FastAPI or the receiver models.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_flux_provider import settings
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.receivers import (
    Delivery,
    DeliveryLog,
    GuardSettings,
    PayloadTooLarge,
    RateLimit,
    ReceiverError,
    ReceiverIndex,
    TooManyRequests,
    WebhookRejected,
    receiver_from_manifest,
)
from airflow_flux_provider.specs import Receiver, load_manifests

log = logging.getLogger(__name__)

DEFAULT_REFRESH_SECONDS = 30


class ReceiverConfig:
    """The receiver index, reloaded from the manifests folder at most every ``refresh`` seconds.

    A receiver whose token or fields are unusable is logged and left out; a folder that
    cannot be parsed keeps the last good index, so one bad edit does not stop every hook.
    """

    def __init__(self, load: Callable[[], ReceiverIndex], refresh: float = DEFAULT_REFRESH_SECONDS) -> None:
        self._load = load
        self.refresh = refresh
        self._index = ReceiverIndex(())
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def index(self) -> ReceiverIndex:
        with self._lock:
            now = time.monotonic()
            if self._loaded_at is None or now - self._loaded_at >= self.refresh:
                try:
                    self._index = self._load()
                except FluxError as err:
                    log.error("Flux receivers: keeping the previous configuration: %s", err)
                self._loaded_at = now
            return self._index


def _airflow_token(conn_id: str) -> str | None:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        return Connection.get_connection_from_secrets(conn_id).password or None
    except AirflowNotFoundException:
        return None


def load_index_from_airflow_config() -> ReceiverIndex:
    """Receivers from ``[flux] receivers_path`` with tokens from Airflow connections."""
    folder = settings.receivers_path()
    if folder is None:
        log.warning("Flux receivers: [flux] receivers_path is not set; no webhook paths are served")
        return ReceiverIndex(())
    receivers = []
    for obj in load_manifests(folder):
        if not isinstance(obj, Receiver):
            continue
        try:
            receivers.append(receiver_from_manifest(obj, _airflow_token))
        except ReceiverError as err:
            log.error("Flux receivers: %s is not served: %s", obj.ref, err)
    index = ReceiverIndex(receivers)
    log.info("Flux receivers: serving %d receiver(s) from %s", len(index), folder)
    return index


def trigger_dag_runs(delivery: Delivery) -> list[dict[str, str]]:
    """One DAG run per DAG id; a retried delivery finds its run already there."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagRunAlreadyExists
    from airflow.utils.types import DagRunTriggeredByType

    run_id = delivery.run_id()
    runs = []
    for dag_id in delivery.dag_ids:
        try:
            trigger_dag(
                dag_id,
                triggered_by=DagRunTriggeredByType.REST_API,
                triggering_user_name=delivery.receiver,
                run_id=run_id,
                conf=delivery.conf(),
                note=f"triggered by {delivery.receiver} ({delivery.event or 'webhook'})",
            )
        except DagRunAlreadyExists:
            log.info(
                "%s: DAG run %s/%s exists already (repeated delivery)", delivery.receiver, dag_id, run_id
            )
        runs.append({"dag_id": dag_id, "run_id": run_id})
    return runs


def emit_asset_events(delivery: Delivery) -> list[dict[str, Any]]:
    """An asset event for every registered asset the receiver's resources name."""
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    emitted = []
    with create_session() as session:
        for uri in delivery.asset_uris:
            query = select(AssetModel)
            if uri.endswith("/*"):
                query = query.where(AssetModel.uri.startswith(uri[:-1], autoescape=True))
            else:
                query = query.where(AssetModel.uri == uri)
            models = [m for m in session.scalars(query) if m.active is not None]
            if not models:
                log.info("%s: no active asset %s; no DAG is scheduled on it", delivery.receiver, uri)
            for model in models:
                if _delivered_before(session, model.id, delivery.delivery_id):
                    log.info("%s: %s already has an event for this delivery", delivery.receiver, model.uri)
                    continue
                event = asset_manager.register_asset_change(
                    asset=model, extra=delivery.conf(), source_is_api=True, session=session
                )
                if event is not None:
                    emitted.append({"uri": model.uri, "id": event.id})
    return emitted


def _delivered_before(session: Any, asset_id: int, delivery_id: str, recent: int = 50) -> bool:
    """Whether one of the asset's recent events came from this delivery (any API server worker)."""
    from airflow.models.asset import AssetEvent
    from sqlalchemy import select

    if not delivery_id:
        return False
    query = (
        select(AssetEvent.extra)
        .where(AssetEvent.asset_id == asset_id)
        .order_by(AssetEvent.timestamp.desc())
        .limit(recent)
    )
    return any(
        isinstance(extra, dict) and extra.get("delivery_id") == delivery_id
        for extra in session.scalars(query)
    )


def act(delivery: Delivery) -> dict[str, Any]:
    return {"dagRuns": trigger_dag_runs(delivery), "assetEvents": emit_asset_events(delivery)}


def _refused(request: Request, err: WebhookRejected, headers: dict[str, str] | None = None) -> JSONResponse:
    log.info("Flux receivers: refused %s: %s", request.url.path[:20], err)
    return JSONResponse({"detail": str(err)}, status_code=err.status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body exceeds {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    config: ReceiverConfig,
    *,
    max_body: int = settings.DEFAULT_RECEIVER_MAX_BODY,
    guard: GuardSettings | None = None,
) -> FastAPI:
    """The receivers app: every route authenticates the request itself."""
    guard = guard or GuardSettings()
    app = FastAPI(title="Flux receivers", docs_url=None, redoc_url=None, openapi_url=None)
    deliveries = DeliveryLog(ttl=guard.window_seconds, dedupe_bodies=guard.dedupe_bodies)
    limit = RateLimit(guard.rate_per_minute)

    @app.post("/hook/{digest}")
    async def hook(digest: str, request: Request) -> JSONResponse:
        try:
            index = await run_in_threadpool(config.index)  # a reload reads files and connections
            receiver = index.lookup(digest)
            body = await read_body(request, max_body)
            delivery = receiver.accept(request.headers, body)
        except WebhookRejected as err:
            return _refused(request, err)
        answer: dict[str, Any] = {"receiver": delivery.receiver, "event": delivery.event}
        if delivery.ping:
            return JSONResponse({**answer, "ping": True})
        if not deliveries.claim(delivery.receiver, delivery.delivery_id, body):
            return JSONResponse({**answer, "duplicate": True})
        try:
            limit.admit(delivery.receiver)
        except TooManyRequests as err:
            deliveries.release(delivery.receiver, delivery.delivery_id, body)  # the retry may act
            return _refused(request, err, headers={"Retry-After": str(err.retry_after)})
        try:
            done = await run_in_threadpool(act, delivery)
        except Exception:
            deliveries.release(delivery.receiver, delivery.delivery_id, body)
            log.exception("Flux receivers: %s could not trigger its targets", delivery.receiver)
            return JSONResponse({**answer, "detail": "triggering failed; see the API server log"}, 500)
        log.info("Flux receivers: %s accepted %s: %s", delivery.receiver, delivery.event or "webhook", done)
        return JSONResponse({**answer, "duplicate": False, **done})

    return app
