"""All configured receivers, found by the digest in their webhook path.

Built from Receiver manifests (a folder of YAML) and a token lookup: Flux's
``secretRef.name`` names the Airflow connection whose password is the token. Features
this runtime cannot honour (CEL filters, label selectors on resources, OIDC) are refused
when loading, so a receiver never triggers more than its manifest says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from airflow_flux_provider.assets import AssetNameError, flux_asset_uri
from airflow_flux_provider.receivers.errors import ReceiverError, UnknownHook
from airflow_flux_provider.receivers.receiver import DAGS_ANNOTATION, WebhookReceiver
from airflow_flux_provider.specs import FluxObject, Receiver, load_manifests

SUPPORTED_TYPES = ("generic", "generic-hmac", "github", "gitlab", "bitbucket", "harbor", "dockerhub")

#: Reads the token of the Airflow connection a ``secretRef.name`` names (``None`` if missing).
TokenLookup = Callable[[str], str | None]


def receiver_from_manifest(manifest: Receiver, tokens: TokenLookup) -> WebhookReceiver:
    spec, meta, ref = manifest.spec, manifest.metadata, manifest.ref
    if spec.type not in SUPPORTED_TYPES:
        raise ReceiverError(
            f"type {spec.type!r} is not supported here; use one of {', '.join(SUPPORTED_TYPES)}",
            obj=ref,
            field="spec.type",
        )
    if spec.resource_filter:
        raise ReceiverError(
            "CEL filters are not evaluated here; remove spec.resourceFilter",
            obj=ref,
            field="spec.resourceFilter",
        )
    assets = []
    for index, resource in enumerate(spec.resources):
        where = f"spec.resources[{index}]"
        if resource.match_labels or resource.filter:
            raise ReceiverError(
                "matchLabels and filter cannot select Airflow assets; name the object or use name: '*'",
                obj=ref,
                field=where,
            )
        try:
            assets.append(flux_asset_uri(resource.kind, resource.namespace or meta.namespace, resource.name))
        except AssetNameError as err:
            raise ReceiverError(err.message, obj=ref, field=where) from None
    assert spec.secret_ref is not None  # the spec model requires it for every supported type
    token = tokens(spec.secret_ref.name)
    if not token:
        raise ReceiverError(
            f"no token: create the Airflow connection {spec.secret_ref.name!r} "
            "with the token as its password",
            obj=ref,
            field="spec.secretRef.name",
        )
    dags = tuple(d.strip() for d in meta.annotations.get(DAGS_ANNOTATION, "").split(",") if d.strip())
    return WebhookReceiver(
        name=meta.name,
        namespace=meta.namespace,
        type=spec.type,
        token=token,
        events=tuple(spec.events),
        dag_ids=dags,
        asset_uris=tuple(assets),
        suspend=spec.suspend,
    )


class ReceiverIndex:
    """Receivers by path digest; a lookup of an unknown digest is a 404."""

    def __init__(self, receivers: Iterable[WebhookReceiver]) -> None:
        self._by_digest: dict[str, WebhookReceiver] = {}
        for receiver in receivers:
            other = self._by_digest.get(receiver.digest)
            if other is not None:
                raise ReceiverError(f"same name, namespace and token as {other.ref}", obj=receiver.ref)
            self._by_digest[receiver.digest] = receiver

    def __len__(self) -> int:
        return len(self._by_digest)

    def __iter__(self) -> Iterator[WebhookReceiver]:
        return iter(self._by_digest.values())

    def lookup(self, digest: str) -> WebhookReceiver:
        try:
            return self._by_digest[digest]
        except KeyError:
            raise UnknownHook("no receiver serves this path") from None

    @classmethod
    def from_manifests(cls, objects: Iterable[FluxObject], tokens: TokenLookup) -> ReceiverIndex:
        return cls(receiver_from_manifest(o, tokens) for o in objects if isinstance(o, Receiver))

    @classmethod
    def from_folder(cls, folder: str | Path, tokens: TokenLookup) -> ReceiverIndex:
        """Every Receiver in the YAML files under ``folder`` (other kinds are ignored)."""
        return cls.from_manifests(load_manifests(Path(folder)), tokens)
