"""Checking that a webhook comes from who the Receiver trusts, per receiver type.

Every comparison of a secret is constant-time (:func:`hmac.compare_digest`). The
signature of HMAC types covers the raw body bytes, so the body is verified before it
is parsed. Types and headers follow Flux's receiver server:

=============  ==================================================  ====================
type           proof                                               event header
=============  ==================================================  ====================
generic        the secret path alone                               —
generic-hmac   ``X-Signature: sha1|sha256|sha512=<hex HMAC>``      —
github         ``X-Hub-Signature-256`` (else ``X-Hub-Signature``)  ``X-GitHub-Event``
gitlab         ``X-Gitlab-Token`` equals the token                 ``X-Gitlab-Event``
bitbucket      ``X-Hub-Signature: sha256=<hex HMAC>``              ``X-Event-Key``
harbor         ``Authorization`` equals the token                  —
dockerhub      the secret path; body ``{push_data.tag, repository.repo_url}``  —
=============  ==================================================  ====================
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from airflow_flux_provider.receivers.errors import Unauthorized, WebhookRejected

_HASHES: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}

#: Deepest nesting of a JSON payload we pass on (into a DAG run's conf or an asset event).
MAX_DEPTH = 64
#: Header naming the event, per type whose ``spec.events`` filter applies.
EVENT_HEADERS = {"github": "x-github-event", "gitlab": "x-gitlab-event", "bitbucket": "x-event-key"}
#: Headers carrying a per-delivery id (retries of one delivery repeat it), first found wins.
DELIVERY_HEADERS = (
    "x-github-delivery",
    "x-gitlab-event-uuid",
    "x-request-uuid",
    "x-request-id",
    "x-delivery-id",
    "idempotency-key",
)


@dataclass(frozen=True)
class VerifiedRequest:
    """A request whose origin is proven: its event type, delivery id and decoded payload."""

    event: str
    delivery_id: str
    payload: Any


def signature_matches(signature: str, body: bytes, token: str) -> bool:
    """``<algo>=<hex>`` checked against HMAC(token, body) in constant time; unknown algos fail."""
    algo, _, given = signature.partition("=")
    digest = _HASHES.get(algo.strip().lower())
    if digest is None or not given:
        return False
    expected = hmac.new(token.encode(), body, digest).hexdigest().encode()
    # Bytes, not str: compare_digest refuses non-ASCII text, and a header may carry any byte.
    return hmac.compare_digest(expected, given.strip().lower().encode("utf-8", "replace"))


def _equal(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())


class _TooDeep(ValueError):
    """JSON nested past :data:`MAX_DEPTH` (or past the parser's recursion limit)."""


def _decode(body: bytes) -> Any:
    """JSON of bounded depth; ``ValueError`` for anything else, :class:`_TooDeep` for a bracket bomb."""
    try:
        payload = json.loads(body)
    except RecursionError:
        raise _TooDeep(f"nested deeper than {MAX_DEPTH} levels") from None
    if _depth(payload) > MAX_DEPTH:
        raise _TooDeep(f"nested deeper than {MAX_DEPTH} levels")
    return payload


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (iterative: no recursion limit to hit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def _json(body: bytes, what: str) -> Any:
    try:
        return _decode(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError) as err:
        raise WebhookRejected(f"the body is not valid JSON ({err}); {what} sends JSON") from None


def _github_payload(headers: Mapping[str, str], body: bytes) -> Any:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode("utf-8", "replace"))
        return _json(form.get("payload", [""])[0].encode(), "the form field 'payload'")
    if content_type != "application/json":
        raise WebhookRejected(
            f"unsupported Content-Type {content_type or '(none)'!r}; "
            "configure the webhook to send application/json"
        )
    return _json(body, "the webhook")


def verify(receiver_type: str, token: str, headers: Mapping[str, str], body: bytes) -> VerifiedRequest:
    """Prove the request for ``receiver_type``; ``headers`` must have lower-case names.

    Raises :class:`Unauthorized` (401) for a missing or wrong proof and
    :class:`WebhookRejected` (400) for a body the type cannot carry.
    """
    delivery = next((headers[h] for h in DELIVERY_HEADERS if headers.get(h)), "")
    event = headers.get(EVENT_HEADERS.get(receiver_type, ""), "")
    if receiver_type in ("generic", "dockerhub"):
        payload = _json(body, "the webhook") if receiver_type == "dockerhub" else _optional_json(body)
    elif receiver_type == "generic-hmac":
        if not signature_matches(headers.get("x-signature", ""), body, token):
            raise Unauthorized(
                "missing or invalid X-Signature header (expected <sha1|sha256|sha512>=<hex HMAC>)"
            )
        payload = _optional_json(body)
    elif receiver_type in ("github", "bitbucket"):
        signature = headers.get("x-hub-signature-256") or headers.get("x-hub-signature", "")
        if not signature_matches(signature, body, token):
            raise Unauthorized(
                "missing or invalid X-Hub-Signature-256 / X-Hub-Signature header; "
                "set the webhook secret to the token of spec.secretRef"
            )
        payload = _github_payload(headers, body)
    elif receiver_type == "gitlab":
        if not _equal(headers.get("x-gitlab-token"), token):
            raise Unauthorized("missing or invalid X-Gitlab-Token header; send the token of spec.secretRef")
        payload = _json(body, "GitLab")
    elif receiver_type == "harbor":
        if not _equal(headers.get("authorization"), token):
            raise Unauthorized(
                "missing or invalid Authorization header; send the token of spec.secretRef as the auth header"
            )
        payload = _json(body, "Harbor")
    else:
        raise WebhookRejected(f"receiver type {receiver_type!r} is not supported")
    if receiver_type == "dockerhub":
        _require_dockerhub_fields(payload)
    return VerifiedRequest(event=event, delivery_id=delivery, payload=payload)


def _optional_json(body: bytes) -> Any:
    """Generic webhooks may send anything; JSON bodies are decoded, others kept as text."""
    try:
        return _decode(body) if body.strip() else None
    except _TooDeep as err:
        raise WebhookRejected(f"the JSON body is {err}; send a flatter payload") from None
    except (ValueError, UnicodeDecodeError):
        return body.decode("utf-8", "replace")


def _require_dockerhub_fields(payload: Any) -> None:
    push = payload.get("push_data") if isinstance(payload, dict) else None
    repository = payload.get("repository") if isinstance(payload, dict) else None
    if not (
        isinstance(push, dict)
        and push.get("tag")
        and isinstance(repository, dict)
        and repository.get("repo_url")
    ):
        raise WebhookRejected("not a Docker Hub push: the body needs push_data.tag and repository.repo_url")
