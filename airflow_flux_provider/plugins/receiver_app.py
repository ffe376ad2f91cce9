"""The FastAPI app behind :class:`~airflow_flux_provider.plugins.receivers.FluxReceiverPlugin`.

Kept apart from the plugin class so that processes which load plugins but serve no HTTP
(workers, the scheduler) never import FastAPI or the receiver models.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_flux_provider import settings
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.receivers import (
    RATE_PERIOD,
    Delivery,
    Footprint,
    GuardSettings,
    PayloadTooLarge,
    ReceiverError,
    ReceiverIndex,
    TooManyRequests,
    WebhookRejected,
    admit,
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


def _named(uri: str) -> Any:
    """The condition on ``AssetModel`` a Receiver resource URI means (``/*``: every name)."""
    from airflow.models.asset import AssetModel

    if uri.endswith("/*"):
        return AssetModel.uri.startswith(uri[:-1], autoescape=True)
    return AssetModel.uri == uri


def emit_asset_events(delivery: Delivery) -> list[dict[str, Any]]:
    """An asset event for every registered asset the receiver's resources name."""
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    emitted = []
    with create_session() as session:
        for uri in delivery.asset_uris:
            named = session.scalars(select(AssetModel).where(_named(uri)))
            models = [m for m in named if m.active is not None]
            if not models:
                log.info("%s: no active asset %s; no DAG is scheduled on it", delivery.receiver, uri)
            for model in models:
                if delivery.delivery_id and session.scalar(  # an arrival time is never seen twice
                    select(AssetEvent.id)
                    .where(AssetEvent.asset_id == model.id)
                    .where(AssetEvent.extra["receipt"].as_string() == delivery.receipt)
                    .limit(1)
                ):
                    log.info("%s: %s already has an event for this delivery", delivery.receiver, model.uri)
                    continue
                event = asset_manager.register_asset_change(
                    asset=model, extra=delivery.conf(), source_is_api=True, session=session
                )
                if event is not None:
                    emitted.append({"uri": model.uri, "id": event.id})
    return emitted


def footprint(delivery: Delivery, guard: GuardSettings) -> Footprint:
    """What the Airflow database holds of the receiver's recent work, whichever API server did it."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import false, or_, select

    now = datetime.now(UTC)
    since = now - timedelta(seconds=guard.window_seconds)
    runs = select(DagRun.id).where(
        DagRun.run_id.startswith(delivery.run_id_prefix(), autoescape=True), DagRun.run_after >= since
    )
    assets = select(AssetModel.id).where(or_(false(), *(_named(uri) for uri in delivery.asset_uris)))
    events = select(AssetEvent.id).where(  # through the (asset, timestamp) index
        AssetEvent.asset_id.in_(assets),
        AssetEvent.timestamp >= since,
        AssetEvent.extra["receiver"].as_string() == delivery.receiver,
    )
    with create_session() as session:

        def recorded(run: Any, event: Any) -> bool:
            return any(
                session.scalar(query.limit(1)) is not None for query in (runs.where(run), events.where(event))
            )

        receipt = delivery.receipt
        known = bool(delivery.delivery_id) and recorded(  # a receipt of arrival time is new by definition
            DagRun.conf["receipt"].as_string() == receipt, AssetEvent.extra["receipt"].as_string() == receipt
        )
        replayed = guard.dedupe_bodies and recorded(
            (DagRun.conf["body_sha256"].as_string() == delivery.body_sha256)
            & (DagRun.conf["receipt"].as_string() != receipt),
            (AssetEvent.extra["body_sha256"].as_string() == delivery.body_sha256)
            & (AssetEvent.extra["receipt"].as_string() != receipt),
        )
        if guard.rate_per_minute <= 0 or known or replayed:
            return Footprint(known, replayed)
        minute = now - timedelta(seconds=RATE_PERIOD)
        acted = [
            *session.execute(
                runs.with_only_columns(DagRun.conf["receipt"].as_string(), DagRun.run_after).where(
                    DagRun.run_after >= minute
                )
            ),
            *session.execute(
                events.with_only_columns(AssetEvent.extra["receipt"].as_string(), AssetEvent.timestamp).where(
                    AssetEvent.timestamp >= minute
                )
            ),
        ]
    first: dict[str, datetime] = {}
    for each, at in acted:
        first[each] = min(at, first.get(each, at))
    return Footprint(known, replayed, [(now - at).total_seconds() for at in first.values()])


def act(delivery: Delivery) -> dict[str, Any]:
    return {"dagRuns": trigger_dag_runs(delivery), "assetEvents": emit_asset_events(delivery)}


def guarded(lock: threading.Lock, delivery: Delivery, guard: GuardSettings) -> dict[str, Any] | None:
    """:func:`act` on a new delivery; None for a repeat.

    The record is the database, so every API server worker and replica decides alike. A
    known delivery id (the sender's retry) is acted on again without spending the budget:
    each DAG run and asset event it should have made is made once (a failed first attempt
    completes), none twice. A known body under another id (``dedupe_bodies``) is a replay
    and does nothing. Beyond the budget: :class:`TooManyRequests`. Two workers handling the
    same delivery in the same instant can both pass the check; the run id still dedupes.
    """
    with lock:
        seen = footprint(delivery, guard)
        if seen.replayed:
            return None
        if not seen.known:
            admit(delivery.receiver, seen, guard.rate_per_minute)
        done = act(delivery)
        return None if seen.known else done


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
    locks: dict[str, threading.Lock] = {}  # one receiver's deliveries, one at a time per process

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
        try:
            done = await run_in_threadpool(
                guarded, locks.setdefault(delivery.receiver, threading.Lock()), delivery, guard
            )
        except TooManyRequests as err:
            return _refused(request, err, headers={"Retry-After": str(err.retry_after)})
        except Exception:
            log.exception("Flux receivers: %s could not trigger its targets", delivery.receiver)
            return JSONResponse({**answer, "detail": "triggering failed; see the API server log"}, 500)
        if done is None:
            return JSONResponse({**answer, "duplicate": True})
        log.info("Flux receivers: %s accepted %s: %s", delivery.receiver, delivery.event or "webhook", done)
        return JSONResponse({**answer, "duplicate": False, **done})

    return app
