"""A thin layer over the official ``kubernetes`` client: discovery, apply, get, list, delete.

Why not use ``DynamicClient`` directly everywhere: its errors are raw ``ApiException``
bodies, it does not retry throttling, and its ResourceInstance wrappers are slow for
thousands of objects. Here every call returns plain dicts, retries 429/5xx with backoff
(honouring ``Retry-After``), and failures become :class:`KubeError` subclasses whose
message names the object and says what to do.
"""

from __future__ import annotations

import builtins
import functools
import gc
import json
import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import urllib3

from airflow_flux_provider.errors import FluxError

log = logging.getLogger(__name__)

DEFAULT_FIELD_MANAGER = "airflow-flux"


MAX_RETRY_AFTER = 30.0  # seconds: a server asking for more (or a day) is retried sooner
REQUEST_TIMEOUT = urllib3.Timeout(total=60)


def retry_after(headers: Any, *, default: float, limit: float = MAX_RETRY_AFTER) -> float:
    """The wait a 429/503 asks for (``Retry-After``: seconds or an HTTP date), within
    ``[0, limit]``; ``default`` (our backoff) when absent or unreadable."""
    value = str(headers.get("Retry-After") or headers.get("retry-after") or "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return default
    if not math.isfinite(seconds):
        return default
    return min(max(seconds, 0.0), limit)


class KubeError(FluxError):
    """The API server refused a request or could not be reached."""


class UnknownKindError(KubeError):
    """No API group serves the object's apiVersion/kind (usually: its CRD is not installed)."""


class ConflictError(KubeError):
    """409: another field manager owns a field, or the object changed under us."""


class ForbiddenError(KubeError):
    """403: the identity (or the impersonated ServiceAccount) may not do this."""


class NotFoundError(KubeError):
    """404: the object (or its namespace) does not exist."""


class InvalidObjectError(KubeError):
    """422/400: the object failed validation, e.g. an immutable field changed."""


class ObjectTooLargeError(KubeError):
    """The API server cannot store the object: its body is over the server's limit (413), or
    the object is over etcd's (1.5 MiB by default), which the API server passes on as a 500."""


#: etcd's refusal of an oversized write, as kube-apiserver passes it on (HTTP 500, no reason)
ETCD_TOO_LARGE = "etcdserver: request is too large"


def service_account_user(namespace: str, name: str) -> str:
    """The user a ServiceAccount authenticates as (what a Flux ``serviceAccountName`` impersonates)."""
    return f"system:serviceaccount:{namespace}:{name}"


@dataclass(frozen=True, order=True)
class ObjectKey:
    """Identity of one object, as in Flux's inventory entries."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ObjectKey:
        meta = obj.get("metadata") or {}
        return cls(
            obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace") or "", meta.get("name", "")
        )

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class ResourceInfo:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str = "", name: str = "") -> str:
        base = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


class Cluster:
    """One identity talking to one API server."""

    def __init__(
        self,
        api_client: Any,
        *,
        field_manager: str = DEFAULT_FIELD_MANAGER,
        retries: int = 5,
        backoff_seconds: float = 0.5,
        max_retry_after: float = MAX_RETRY_AFTER,
    ) -> None:
        self.api_client = api_client
        self.field_manager = field_manager
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.max_retry_after = max_retry_after
        self._resources: dict[tuple[str, str], ResourceInfo] = {}
        self._discovered_groups: set[str] = set()
        self._lock = threading.Lock()

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_kubeconfig(
        cls,
        path: str | None = None,
        *,
        context: str | None = None,
        **kwargs: Any,
    ) -> Cluster:
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
        return cls(client.ApiClient(configuration), **kwargs)

    def impersonating(self, user: str) -> Cluster:
        """The same server as ``user`` (e.g. ``system:serviceaccount:team-a:reconciler``)."""
        from kubernetes import client

        api_client = client.ApiClient(self.api_client.configuration)
        api_client.set_default_header("Impersonate-User", user)
        return Cluster(
            api_client,
            field_manager=self.field_manager,
            retries=self.retries,
            backoff_seconds=self.backoff_seconds,
            max_retry_after=self.max_retry_after,
        )

    @property
    def impersonated_user(self) -> str | None:
        return self.api_client.default_headers.get("Impersonate-User")

    def kubeconfig(self) -> dict[str, Any]:
        """A kubeconfig reaching this server as this identity, for tools that read only kubeconfigs.

        Built from the loaded client configuration rather than from the file it came from, so a
        tool (helm) needs neither the user's home for exec credential plugins nor its own
        in-cluster detection, and an impersonated identity stays impersonated. Tokens are the
        current ones (an expiring token is refreshed first); keep the file private and short-lived.
        """
        from kubernetes import client

        configuration = self.api_client.configuration
        server: dict[str, Any] = {"server": configuration.host}
        if configuration.ssl_ca_cert:
            server["certificate-authority"] = configuration.ssl_ca_cert
        if not configuration.verify_ssl:
            server["insecure-skip-tls-verify"] = True
        if getattr(configuration, "tls_server_name", None):
            server["tls-server-name"] = configuration.tls_server_name
        if configuration.proxy and configuration.proxy != client.Configuration().proxy:  # not the env's
            server["proxy-url"] = configuration.proxy
        user: dict[str, Any] = {}
        # what the client sends as its Authorization header (refreshed first when it expires)
        token = (configuration.auth_settings().get("BearerToken") or {}).get("value")
        if token:
            scheme, _, value = token.partition(" ")
            user["token"] = value if scheme.lower() == "bearer" and value else token
        if configuration.cert_file:
            user["client-certificate"] = configuration.cert_file
        if configuration.key_file:
            user["client-key"] = configuration.key_file
        if configuration.username:
            user.update(username=configuration.username, password=configuration.password or "")
        if self.impersonated_user:
            user["as"] = self.impersonated_user
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cluster", "cluster": server}],
            "users": [{"name": "user", "user": user}],
            "contexts": [{"name": "cluster", "context": {"cluster": "cluster", "user": "user"}}],
            "current-context": "cluster",
        }

    # -- discovery ------------------------------------------------------------------------------
    def resource(self, api_version: str, kind: str) -> ResourceInfo:
        key = (api_version, kind)
        if key not in self._resources:
            with self._lock:
                self._discover(api_version, refresh=api_version in self._discovered_groups)
        if key not in self._resources:
            raise UnknownKindError(
                f"the API server has no {kind} in {api_version}; install the CustomResourceDefinition "
                "that defines it (or apply it in an earlier Kustomization with dependsOn)",
                obj=f"{kind} ({api_version})",
            )
        return self._resources[key]

    def forget_discovery(self) -> None:
        """Drop cached discovery, e.g. after applying CRDs."""
        with self._lock:
            self._resources.clear()
            self._discovered_groups.clear()

    def _discover(self, api_version: str, *, refresh: bool) -> None:
        path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        try:
            listing = self.request("GET", path)
        except NotFoundError:
            return
        self._discovered_groups.add(api_version)
        for item in listing.get("resources", []):
            if "/" in item["name"]:  # subresources such as deployments/status
                continue
            info = ResourceInfo(api_version, item["kind"], item["name"], bool(item.get("namespaced")))
            self._resources[(api_version, item["kind"])] = info

    # -- requests -------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, Any]] | None = None,
        content_type: str = "application/json",
        obj: str | None = None,
    ) -> dict[str, Any]:
        """One API call with retries for throttling and server errors; returns the decoded JSON.

        Straight through the client's urllib3 connection pool (its TLS, proxy and size
        settings) with the client's headers and credentials: the ``kubernetes`` model layer
        and urllib3's pool manager around it (body sanitising, parameter handling, URL parsing
        and pool lookup) cost as much CPU as the rest of a dry-run request.
        """
        configuration = self.api_client.configuration
        pool, base = self._connections
        target = base + path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body, default=_json_value).encode()
        attempt = 0
        while True:
            try:
                response = pool.urlopen(
                    method, target, body=data, headers=self._headers(content_type), timeout=REQUEST_TIMEOUT
                )
            except (urllib3.exceptions.HTTPError, OSError) as err:  # connection failures, timeouts
                reason = getattr(err, "reason", None) or err
                if isinstance(reason, urllib3.exceptions.SSLError) or attempt >= self.retries:
                    raise KubeError(
                        f"cannot reach the API server at {configuration.host}: {reason}; "
                        "check the kubeconfig/connection and that the server is running",
                        obj=obj,
                    ) from None
                delay = self.backoff_seconds * (2**attempt)
            else:
                if 200 <= response.status < 300:
                    return _decode(response.data) if response.data else {}
                error = self._translate(response, method, path, obj)
                retryable = response.status == 429 or response.status >= 500
                if not retryable or isinstance(error, ObjectTooLargeError) or attempt >= self.retries:
                    raise error from None
                backoff = self.backoff_seconds * (2**attempt) * (1 + random.random() / 2)
                delay = retry_after(response.headers, default=backoff, limit=self.max_retry_after)
            attempt += 1
            log.warning("%s %s failed, retry %d/%d in %.1fs", method, path, attempt, self.retries, delay)
            time.sleep(delay)

    @functools.cached_property
    def _connections(self) -> tuple[urllib3.HTTPConnectionPool, str]:
        """The client's connections to the server, and what goes before each request's path: the
        server URL's own path (a cluster behind a gateway, as Rancher's ``/k8s/clusters/<id>``),
        or the whole URL for plain HTTP through a forwarding proxy (HTTPS goes through a tunnel)."""
        host = self.api_client.configuration.host.rstrip("/")
        pool = self.api_client.rest_client.pool_manager.connection_from_url(host)
        if pool.proxy is not None and host.startswith("http://"):
            return pool, host
        return pool, urllib3.util.parse_url(host).path or ""

    def _headers(self, content_type: str) -> dict[str, str]:
        """The client's default headers (impersonation, User-Agent), cookie and credentials (a
        token refreshed by the kubeconfig's hook when it expires)."""
        headers = {
            **self.api_client.default_headers,
            "Accept": "application/json",
            "Content-Type": content_type,
        }
        if self.api_client.cookie:
            headers["Cookie"] = self.api_client.cookie
        self.api_client.update_params_for_auth(headers, [], ["BearerToken"])
        return headers

    @staticmethod
    def _translate(response: Any, method: str, path: str, obj: str | None) -> KubeError:
        try:
            status = json.loads(response.data or "{}")
        except (TypeError, ValueError):
            status = {}
        message = (
            (status.get("message") if isinstance(status, dict) else None) or response.reason or "no message"
        )
        where = obj or path
        code = response.status
        if code == 403:
            return ForbiddenError(
                f"forbidden: {message}; grant the identity this verb in an RBAC Role", obj=where
            )
        if code == 409:
            return ConflictError(message, obj=where)
        if code in (400, 422):
            return InvalidObjectError(message, obj=where)
        if code == 404:
            return NotFoundError(f"not found: {message}", obj=where)
        if code == 413 or (code == 500 and message == ETCD_TOO_LARGE):
            return ObjectTooLargeError(f"too large to store: {message}", obj=where)
        if code == 401:
            return KubeError(
                "unauthorized: the token or client certificate was rejected; refresh the kubeconfig",
                obj=where,
            )
        return KubeError(f"{method} failed with HTTP {code}: {message}", obj=where)

    # -- verbs ----------------------------------------------------------------------------------
    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        info = self.resource(key.api_version, key.kind)
        try:
            return self.request("GET", info.path(key.namespace, key.name), obj=str(key))
        except NotFoundError:
            return None

    def get_many(self, keys: builtins.list[ObjectKey]) -> dict[ObjectKey, dict[str, Any] | None | KubeError]:
        """Each key's live object (``None``: not found), one LIST per kind and namespace as Flux's
        caching status reader reads; a GET per object for a single one, or where listing is not
        allowed (a team's service account may only get). A failed read is that key's value, so
        the caller reports it at its object."""
        groups: dict[tuple[str, str, str], builtins.list[ObjectKey]] = {}
        for key in keys:
            groups.setdefault((key.api_version, key.kind, key.namespace), []).append(key)
        found: dict[ObjectKey, dict[str, Any] | None | KubeError] = {}
        for (api_version, kind, namespace), members in groups.items():
            try:
                items = self.list(api_version, kind, namespace=namespace) if len(members) > 1 else None
            except ForbiddenError:
                items = None
            except KubeError as err:  # an unknown kind, say
                found.update((key, err) for key in members)
                continue
            if items is None:
                for key in members:
                    try:
                        found[key] = self.get(key)
                    except KubeError as err:
                        found[key] = err
            else:
                by_name = {item["metadata"]["name"]: item for item in items}
                found.update((key, by_name.get(key.name)) for key in members)
        return found

    def list(
        self, api_version: str, kind: str, *, namespace: str = "", label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Every matching object, following ``continue`` tokens; items carry apiVersion and kind."""
        info = self.resource(api_version, kind)
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query: list[tuple[str, Any]] = [("limit", 500)]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            page = self.request("GET", info.path(namespace), query=query, obj=f"{kind} list")
            for item in page.get("items", []):
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                items.append(item)
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    def apply(
        self,
        obj: dict[str, Any],
        *,
        force: bool = False,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """Server-side apply under this cluster's field manager (or ``field_manager``, e.g. helm's)."""
        key = ObjectKey.of(obj)
        info = self.resource(key.api_version, key.kind)
        manager = field_manager or self.field_manager
        query: list[tuple[str, Any]] = [("fieldManager", manager), ("force", str(force).lower())]
        if dry_run:
            query.append(("dryRun", "All"))
        return self.request(
            "PATCH",
            info.path(key.namespace, key.name),
            body=obj,
            query=query,
            content_type="application/apply-patch+yaml",
            obj=str(key),
        )

    def json_patch(
        self, key: ObjectKey, operations: builtins.list[dict[str, Any]], *, field_manager: str | None = None
    ) -> dict[str, Any]:
        """An RFC 6902 patch: changes exactly the given paths, nothing else."""
        info = self.resource(key.api_version, key.kind)
        return self.request(
            "PATCH",
            info.path(key.namespace, key.name),
            body=operations,
            query=[("fieldManager", field_manager or self.field_manager)],
            content_type="application/json-patch+json",
            obj=str(key),
        )

    def create(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Create ``obj`` (POST); an existing object is a :class:`ConflictError` (AlreadyExists)."""
        key = ObjectKey.of(obj)
        info = self.resource(key.api_version, key.kind)
        query: builtins.list[tuple[str, Any]] = [("fieldManager", self.field_manager)]
        if dry_run:
            query.append(("dryRun", "All"))
        return self.request("POST", info.path(key.namespace), body=obj, query=query, obj=str(key))

    def delete(self, key: ObjectKey, *, propagation: str = "Background", dry_run: bool = False) -> bool:
        """Delete one object; ``False`` when it was already gone."""
        info = self.resource(key.api_version, key.kind)
        query: list[tuple[str, Any]] = [("propagationPolicy", propagation)]
        if dry_run:
            query.append(("dryRun", "All"))
        try:
            self.request("DELETE", info.path(key.namespace, key.name), query=query, obj=str(key))
        except NotFoundError:
            return False
        return True


def _json_value(value: Any) -> str:
    """Dates in a body (YAML reads unquoted ones as dates) as the ``kubernetes`` client sent them."""
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON: {value!r}")


_decoding = 0
_decoding_lock = threading.Lock()
_collect_after = False


def _decode(data: bytes) -> Any:
    """``json.loads`` with the cyclic garbage collector paused, across threads: decoded JSON holds
    no cycles, and the collections its allocations trigger walk every object of the process
    (a 0.8 MB LIST page decoded in 9 ms without them, 69 ms with them)."""
    global _decoding, _collect_after
    with _decoding_lock:
        _decoding += 1
        if _decoding == 1:
            _collect_after = gc.isenabled()
            gc.disable()
    try:
        return json.loads(data)
    finally:
        with _decoding_lock:
            _decoding -= 1
            if _decoding == 0 and _collect_after:
                gc.enable()
