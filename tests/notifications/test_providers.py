"""Every provider type posts the payload Flux would to a local capture server."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.notifications import (
    NotificationError,
    Transport,
    build_provider,
    provider_from_spec,
)
from airflow_flux_provider.notifications.msteams import message_card
from airflow_flux_provider.specs import load_manifests
from tests.notifications.capture import CaptureServer, TLSCaptureServer
from tests.notifications.helpers import TOKEN, event, settings


def test_slack_incoming_webhook_gets_flux_attachment(capture: CaptureServer) -> None:
    provider = build_provider(
        "slack", settings(f"{capture.url}/services/T0/B0/hook", channel="ml-deployments")
    )
    provider.send(event("error", message="Health check failed\nsecond line"))
    (request,) = capture.take()
    assert request.path == "/services/T0/B0/hook"
    body = request.json()
    assert body["channel"] == "ml-deployments"
    assert body["username"] == "kustomize-controller"
    (attachment,) = body["attachments"]
    assert attachment["color"] == "danger"
    assert attachment["author_name"] == "kustomization/ml-serving.flux-system"
    assert attachment["fallback"] == "kustomization/ml-serving.flux-system: Health check failed"
    assert attachment["text"] == "Health check failed\nsecond line"
    assert attachment["fields"] == [{"title": "revision", "value": "main@sha1:abc", "short": False}]


def test_slack_bot_token_posts_chat_message(capture: CaptureServer) -> None:
    provider = build_provider(
        "slack", settings(f"{capture.url}/api/", token=TOKEN, channel="#deploys", username="flux")
    )
    provider.send(event())
    (request,) = capture.take()
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    body = request.json()
    assert body["channel"] == "#deploys" and body["username"] == "flux"
    assert body["attachments"][0]["color"] == "good"


def test_slack_api_error_is_reported_without_token(capture: CaptureServer) -> None:
    provider = build_provider("slack", settings(f"{capture.url}/api/", token=TOKEN, channel="#missing"))
    with pytest.raises(NotificationError, match="channel_not_found") as info:
        provider.send(event())
    assert TOKEN not in str(info.value) and "Provider/flux-system/test" in str(info.value)


def test_slack_webhook_refusal_names_status_not_the_secret_url(capture: CaptureServer) -> None:
    secret_url = f"{capture.url}/fail/404/services/SECRETPATH"
    provider = build_provider("slack", settings(secret_url, transport=Transport(secrets=(secret_url,))))
    with pytest.raises(NotificationError, match="status code 404") as info:
        provider.send(event())
    assert "SECRETPATH" not in str(info.value)


def test_slack_needs_channel_with_token() -> None:
    with pytest.raises(NotificationError, match=r"spec\.channel"):
        build_provider("slack", settings("", token=TOKEN))


def test_msteams_workflow_webhook_gets_adaptive_card(capture: CaptureServer) -> None:
    provider = build_provider("msteams", settings(f"{capture.url}/workflows/run"))
    provider.send(event("error", metadata={"summary": "Model deployment status", "revision": "r1", "a": "b"}))
    (request,) = capture.take()
    body = request.json()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["msteams"] == {"width": "Full"}
    title, message, facts = card["body"][0]["items"]
    assert title["text"] == "kustomization/ml-serving.flux-system" and title["weight"] == "bolder"
    assert message == {
        "type": "TextBlock",
        "text": "Applied revision: main@sha1:abc",
        "wrap": True,
        "color": "attention",
    }
    assert [f["title"] for f in facts["facts"]] == ["summary", "a", "revision"]


def test_msteams_legacy_connector_gets_message_card() -> None:
    card = message_card(event(metadata={"revision": "r1"}))
    assert card["@type"] == "MessageCard" and card["themeColor"] == "0076D7"
    assert card["sections"][0]["facts"] == [{"name": "revision", "value": "r1"}]


def test_generic_posts_event_json_with_component_header(capture: CaptureServer) -> None:
    provider = build_provider("generic", settings(f"{capture.url}/events", headers={"X-Team": "ml"}))
    sent = event()
    provider.send(sent)
    (request,) = capture.take()
    assert request.json() == sent.to_flux()
    assert request.headers["gotk-component"] == "kustomize-controller"
    assert request.headers["x-team"] == "ml"
    assert request.headers["content-type"] == "application/json"


def test_generic_hmac_signs_the_exact_body(capture: CaptureServer) -> None:
    key = "hmac-key-456"
    provider = build_provider("generic-hmac", settings(f"{capture.url}/signed", token=key))
    provider.send(event())
    (request,) = capture.take()
    expected = hmac.new(key.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-signature"] == f"sha256={expected}"


def test_generic_hmac_refuses_empty_key() -> None:
    with pytest.raises(NotificationError, match="HMAC key is empty"):
        build_provider("generic-hmac", settings("http://127.0.0.1:1/x"))


def test_pagerduty_error_triggers_incident(capture: CaptureServer) -> None:
    provider = build_provider("pagerduty", settings(f"{capture.url}/ignored/path", channel="routing-key"))
    provider.send(event("error", reason="HealthCheckFailed", message="timeout waiting"))
    (request,) = capture.take()
    assert request.path == "/v2/enqueue"
    body = request.json()
    assert body["routing_key"] == "routing-key"
    assert body["event_action"] == "trigger" and body["dedup_key"] == "uid-1"
    payload = body["payload"]
    assert payload["summary"] == "health check failed: kustomization/ml-serving"
    assert payload["source"] == "Flux kustomize-controller"
    assert payload["severity"] == "error" and payload["group"] == "Kustomization"
    assert payload["component"] == "ml-serving" and payload["timestamp"] == "2026-11-26T12:00:00Z"
    assert payload["custom_details"] == {
        "message": "timeout waiting",
        "metadata": {"revision": "main@sha1:abc"},
    }


def test_pagerduty_info_resolves_and_records_change(capture: CaptureServer) -> None:
    provider = build_provider("pagerduty", settings(capture.url, channel="routing-key"))
    provider.send(event("info"))
    resolve, change = capture.take()
    assert resolve.path == "/v2/enqueue" and resolve.json()["event_action"] == "resolve"
    assert "payload" not in resolve.json()
    assert change.path == "/v2/change/enqueue"
    assert change.json()["payload"]["summary"] == "reconciliation succeeded: kustomization/ml-serving"


def test_pagerduty_skips_progressing() -> None:
    provider = build_provider("pagerduty", settings("http://127.0.0.1:1", channel="k"))
    assert not provider.wants(event(reason="Progressing"))


def test_discord_gets_slack_body_on_slack_endpoint(capture: CaptureServer) -> None:
    provider = build_provider("discord", settings(f"{capture.url}/api/webhooks/1/abc"))
    provider.send(event())
    (request,) = capture.take()
    assert request.path == "/api/webhooks/1/abc/slack"
    body = request.json()
    assert "channel" not in body and "fallback" not in body["attachments"][0]
    assert body["attachments"][0]["author_name"] == "kustomization/ml-serving.flux-system"


def test_chat_providers_skip_commit_status_updates() -> None:
    status_event = event(metadata={"commit_status": "update"})
    assert not build_provider("slack", settings("http://127.0.0.1:1/x")).wants(status_event)
    assert build_provider("generic", settings("http://127.0.0.1:1/x")).wants(status_event)


def test_proxy_is_used(capture: CaptureServer) -> None:
    for provider_type in ("generic", "slack"):
        provider = build_provider(
            provider_type, settings("http://hooks.example.invalid/in", transport=Transport(proxy=capture.url))
        )
        provider.send(event())
        (request,) = capture.take()
        assert request.path == "http://hooks.example.invalid/in"


def test_server_errors_are_retried_then_reported(capture: CaptureServer) -> None:
    provider = build_provider(
        "generic", settings(f"{capture.url}/fail/503/x", transport=Transport(timeout=10, retries=1))
    )
    with pytest.raises(NotificationError, match="status code 503"):
        provider.send(event())
    assert len(capture.take()) == 2


def test_unreachable_address_is_a_clear_error_without_secret() -> None:
    manifest = """
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: flux-system}
spec: {type: generic, timeout: 2s}
"""
    (provider_obj,) = load_manifests(manifest)
    creds = Credentials(password="tok", extra={"address": "http://127.0.0.1:1/secret-hook-path"})
    provider = provider_from_spec(provider_obj, creds, retries=0)  # type: ignore[arg-type]
    with pytest.raises(NotificationError, match="Provider/flux-system/hook") as info:
        provider.send(event())
    assert "secret-hook-path" not in str(info.value)


def test_provider_from_spec_reads_secret_extras(capture: CaptureServer) -> None:
    manifest = """
apiVersion: notification.toolkit.fluxcd.io/v1beta2
kind: Provider
metadata: {name: slack, namespace: flux-system}
spec:
  type: slack
  channel: ml-deployments
  address: http://127.0.0.1:1/overridden
  secretRef: {name: slack-webhook}
"""
    (provider_obj,) = load_manifests(manifest)
    creds = Credentials(extra={"address": f"{capture.url}/services/x", "headers": "X-Env: prod\n"})
    provider_from_spec(provider_obj, creds).send(event())  # type: ignore[arg-type]
    (request,) = capture.take()
    assert request.path == "/services/x" and request.headers["x-env"] == "prod"
    assert request.json()["channel"] == "ml-deployments"


def test_unsupported_type_names_the_choices() -> None:
    with pytest.raises(NotificationError, match=r"spec.type.*use one of discord"):
        build_provider("telegram", settings("http://x"))


@pytest.mark.parametrize("provider_type", ["generic", "slack"])
def test_https_trusts_the_connection_ca(tls_capture_server: TLSCaptureServer, provider_type: str) -> None:
    manifest = f"""
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: tls, namespace: flux-system}}
spec: {{type: {provider_type}, address: "{tls_capture_server.url}/tls-hook", timeout: 5s}}
"""
    (provider_obj,) = load_manifests(manifest)
    tls_capture_server.take()
    with pytest.raises(NotificationError, match=r"(?i)certificate|ssl"):
        provider_from_spec(provider_obj, Credentials(), retries=0).send(event())  # type: ignore[arg-type]
    trusted = Credentials(ca_cert=tls_capture_server.cert_pem)
    provider_from_spec(provider_obj, trusted, retries=0).send(event())  # type: ignore[arg-type]
    provider_from_spec(provider_obj, Credentials(insecure=True), retries=0).send(event())  # type: ignore[arg-type]
    assert [r.path for r in tls_capture_server.take()] == ["/tls-hook", "/tls-hook"]
