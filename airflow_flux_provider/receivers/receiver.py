"""A Receiver ready to serve: its path, how it verifies requests, and what a valid one triggers.

What a webhook starts, in Airflow terms:

* **Asset events** — every ``spec.resources`` entry names an asset with the URI
  :func:`~airflow_flux_provider.assets.flux_asset_uri` (``flux://<namespace>/<Kind>/<name>``);
  a DAG scheduled on that asset runs when the source changes, as the Flux object would be
  reconciled.
  ``name: '*'`` selects every registered asset of that kind and namespace.
* **DAG runs** — the DAG ids listed in the Receiver's annotation :data:`DAGS_ANNOTATION`
  (comma-separated) are triggered with the delivery in their ``conf``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_flux_provider.errors import object_ref
from airflow_flux_provider.receivers.errors import ReceiverSuspended, WebhookRejected
from airflow_flux_provider.receivers.path import webhook_digest
from airflow_flux_provider.receivers.verification import EVENT_HEADERS, VerifiedRequest, verify

DAGS_ANNOTATION = "airflow-flux-provider.io/trigger-dags"
#: GitHub's "ping" proves the hook works; it is acknowledged without triggering anything.
PING_EVENTS = frozenset({"ping"})
_RUN_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.~:+-]")


@dataclass(frozen=True)
class Delivery:
    """A verified request and what it should trigger."""

    receiver: str
    event: str
    delivery_id: str
    payload: Any
    dag_ids: tuple[str, ...]
    asset_uris: tuple[str, ...]
    ping: bool = False
    body_sha256: str = ""
    arrived_ns: int = field(default_factory=time.time_ns)

    @property
    def receipt(self) -> str:
        """Names this request in run ids and records: the sender's delivery id, else its arrival."""
        return self.delivery_id or f"{self.arrived_ns}"

    def run_id_prefix(self) -> str:
        """What every DAG run id this receiver starts begins with."""
        name = self.receiver.split("/", 1)[1].replace("/", ".")
        return _RUN_ID_UNSAFE.sub("_", f"flux_receiver__{name}__")

    def run_id(self) -> str:
        """A DAG run id that is the same for every retry of one delivery (so a DB key dedupes it)."""
        return (self.run_id_prefix() + _RUN_ID_UNSAFE.sub("_", self.receipt))[:250]

    def conf(self) -> dict[str, Any]:
        """What the triggered DAG run gets as ``conf`` and an asset event as ``extra``: the
        delivery, and what lets any API server worker recognise it again."""
        return {
            "receiver": self.receiver,
            "event": self.event,
            "delivery_id": self.delivery_id,
            "receipt": self.receipt,
            "body_sha256": self.body_sha256,
            "payload": self.payload,
        }


@dataclass(frozen=True)
class WebhookReceiver:
    name: str
    namespace: str
    type: str
    token: str = field(repr=False)
    events: tuple[str, ...] = ()
    dag_ids: tuple[str, ...] = ()
    asset_uris: tuple[str, ...] = ()
    suspend: bool = False

    @property
    def ref(self) -> str:
        return object_ref("Receiver", self.name, self.namespace)

    @property
    def digest(self) -> str:
        return webhook_digest(self.token, self.name, self.namespace)

    def accept(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        """Verify and filter one request; raise :class:`WebhookRejected` (with its status) if refused."""
        if self.suspend:
            raise ReceiverSuspended("the receiver is suspended", obj=self.ref)
        lowered: dict[str, str] = {}
        for key, value in headers.items():  # the sender's header wins over any a proxy appended
            lowered.setdefault(key.lower(), value)
        try:
            request: VerifiedRequest = verify(self.type, self.token, lowered, body)
        except WebhookRejected as err:
            raise type(err)(err.message, obj=self.ref) from None
        ping = self.type in EVENT_HEADERS and request.event.lower() in PING_EVENTS
        if self.events and self.type in EVENT_HEADERS and not ping:
            allowed = {e.lower() for e in self.events}
            if request.event.lower() not in allowed:
                raise WebhookRejected(
                    f"event {request.event or '(none)'!r} is not in spec.events ({', '.join(self.events)})",
                    obj=self.ref,
                )
        return Delivery(
            receiver=self.ref,
            event=request.event,
            delivery_id=request.delivery_id,
            payload=request.payload,
            dag_ids=self.dag_ids,
            asset_uris=self.asset_uris,
            ping=ping,
            body_sha256=hashlib.sha256(body).hexdigest(),
        )
