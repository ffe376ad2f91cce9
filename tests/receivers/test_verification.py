"""Receiver paths, per-type verification and event filtering, without a server."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from airflow_flux_provider.assets import flux_asset_uri
from airflow_flux_provider.receivers import (
    DAGS_ANNOTATION,
    Footprint,
    ReceiverError,
    ReceiverIndex,
    ReceiverSuspended,
    TooManyRequests,
    Unauthorized,
    UnknownHook,
    WebhookReceiver,
    WebhookRejected,
    admit,
    webhook_path,
)
from airflow_flux_provider.receivers.verification import signature_matches, verify
from airflow_flux_provider.specs import load_manifests

TOKEN = "s3cr3t-token"
BODY = json.dumps({"ref": "refs/heads/main", "after": "abc"}).encode()


def hub(body: bytes, algo: str = "sha256", key: str = TOKEN) -> str:
    return f"{algo}=" + hmac.new(key.encode(), body, getattr(hashlib, algo)).hexdigest()


def receiver(receiver_type: str, events: tuple[str, ...] = ()) -> WebhookReceiver:
    return WebhookReceiver("hook", "flux-system", receiver_type, TOKEN, events=events, dag_ids=("d",))


def test_path_is_sha256_of_token_name_namespace() -> None:
    digest = hashlib.sha256(b"s3cr3t-tokenmodel-update-webhookflux-system").hexdigest()
    assert webhook_path(TOKEN, "model-update-webhook", "flux-system") == f"/hook/{digest}"
    assert len(digest) == 64


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("receiver_type", "headers", "accepted"),
    [
        ("generic", {}, True),
        ("generic-hmac", {"X-Signature": hub(BODY)}, True),
        ("generic-hmac", {"X-Signature": hub(BODY, "sha1")}, True),
        ("generic-hmac", {"X-Signature": hub(BODY, "sha512")}, True),
        ("generic-hmac", {"X-Signature": hub(BODY, key="wrong")}, False),
        ("generic-hmac", {"X-Signature": "md5=abc"}, False),
        ("generic-hmac", {}, False),
        ("github", {**JSON, "X-Hub-Signature-256": hub(BODY), "X-GitHub-Event": "push"}, True),
        ("github", {**JSON, "X-Hub-Signature": hub(BODY, "sha1"), "X-GitHub-Event": "push"}, True),
        ("github", {**JSON, "X-Hub-Signature-256": hub(BODY + b" "), "X-GitHub-Event": "push"}, False),
        ("github", {**JSON, "X-GitHub-Event": "push"}, False),
        ("gitlab", {"X-Gitlab-Token": TOKEN, "X-Gitlab-Event": "Push Hook"}, True),
        ("gitlab", {"X-Gitlab-Token": TOKEN + "x", "X-Gitlab-Event": "Push Hook"}, False),
        ("bitbucket", {**JSON, "X-Hub-Signature": hub(BODY), "X-Event-Key": "repo:push"}, True),
        ("bitbucket", {**JSON, "X-Event-Key": "repo:push"}, False),
        ("harbor", {"Authorization": TOKEN}, True),
        ("harbor", {"Authorization": f"Bearer {TOKEN}"}, False),
    ],
)
def test_verification(receiver_type: str, headers: dict[str, str], accepted: bool) -> None:
    hook = receiver(receiver_type)
    if accepted:
        delivery = hook.accept(headers, BODY)
        assert delivery.payload == json.loads(BODY) and delivery.dag_ids == ("d",)
    else:
        with pytest.raises(Unauthorized, match="Receiver/flux-system/hook"):
            hook.accept(headers, BODY)


def test_github_form_encoded_payload() -> None:
    body = b"payload=" + b"%7B%22ref%22%3A%22main%22%7D"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Hub-Signature-256": hub(body)}
    assert receiver("github").accept(headers, body).payload == {"ref": "main"}


def test_github_needs_json_content_type() -> None:
    with pytest.raises(WebhookRejected, match="Content-Type"):
        receiver("github").accept({"X-Hub-Signature-256": hub(BODY), "Content-Type": "text/plain"}, BODY)


def test_dockerhub_body_must_describe_a_push() -> None:
    push = json.dumps({"push_data": {"tag": "v1"}, "repository": {"repo_url": "https://hub/r"}}).encode()
    assert receiver("dockerhub").accept({}, push).payload["push_data"]["tag"] == "v1"
    with pytest.raises(WebhookRejected, match=r"push_data\.tag"):
        receiver("dockerhub").accept({}, b'{"push_data": {}}')


def test_events_filter_is_case_insensitive_and_ping_triggers_nothing() -> None:
    hook = receiver("github", events=("Push",))
    headers = {**JSON, "X-Hub-Signature-256": hub(BODY)}
    assert hook.accept({**headers, "X-GitHub-Event": "push"}, BODY).event == "push"
    assert hook.accept({**headers, "X-GitHub-Event": "ping"}, BODY).ping
    with pytest.raises(WebhookRejected, match=r"'issues' is not in spec\.events") as info:
        hook.accept({**headers, "X-GitHub-Event": "issues"}, BODY)
    assert info.value.status == 400
    # generic receivers ignore spec.events, as Flux does
    assert not receiver("generic", events=("push",)).accept({}, BODY).ping


def test_suspended_receiver_is_unavailable() -> None:
    hook = WebhookReceiver("hook", "flux-system", "generic", TOKEN, suspend=True)
    with pytest.raises(ReceiverSuspended):
        hook.accept({}, b"")


def test_run_id_is_stable_per_delivery() -> None:
    hook = receiver("gitlab")
    headers = {"X-Gitlab-Token": TOKEN, "X-Gitlab-Event-UUID": "abc/123 x"}
    first, again = hook.accept(headers, BODY), hook.accept(headers, BODY)
    assert first.run_id() == again.run_id() == "flux_receiver__flux-system.hook__abc_123_x"


SEED_RECEIVER = f"""
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata:
  name: model-update-webhook
  namespace: flux-system
  annotations:
    {DAGS_ANNOTATION}: "train, deploy"
spec:
  type: generic
  events: ["ping", "push"]
  secretRef:
    name: webhook-token
  resources:
    - apiVersion: source.toolkit.fluxcd.io/v1
      kind: GitRepository
      name: ml-gitops
"""


def test_index_from_seed_receiver() -> None:
    index = ReceiverIndex.from_manifests(load_manifests(SEED_RECEIVER), {"webhook-token": TOKEN}.get)
    (hook,) = list(index)
    assert index.lookup(hook.digest) is hook
    assert hook.dag_ids == ("train", "deploy")
    assert hook.asset_uris == (flux_asset_uri("GitRepository", "flux-system", "ml-gitops"),)
    assert hook.asset_uris == ("flux://flux-system/GitRepository/ml-gitops",)
    with pytest.raises(UnknownHook):
        index.lookup("0" * 64)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("type: generic", "type: quay"), r"field spec.type: type 'quay' is not supported"),
        (("      name: ml-gitops", "      name: '*'\n      matchLabels: {a: b}"), r"spec.resources\[0\]"),
        (("  type: generic", "  type: generic\n  resourceFilter: 'true'"), "spec.resourceFilter"),
    ],
)
def test_index_refuses_what_it_cannot_honour(change: tuple[str, str], message: str) -> None:
    manifest = SEED_RECEIVER.replace(*change)
    with pytest.raises(ReceiverError, match=message):
        ReceiverIndex.from_manifests(load_manifests(manifest), {"webhook-token": TOKEN}.get)


def test_missing_token_connection_is_a_clear_error() -> None:
    with pytest.raises(ReceiverError, match="connection 'webhook-token'") as info:
        ReceiverIndex.from_manifests(load_manifests(SEED_RECEIVER), lambda name: None)
    assert "Receiver/flux-system/model-update-webhook field spec.secretRef.name" in str(info.value)


@pytest.mark.parametrize("receiver_type", ["generic-hmac", "github", "bitbucket", "gitlab", "harbor"])
def test_non_ascii_proofs_are_refused_as_unauthorized(receiver_type: str) -> None:
    headers = {
        **JSON,
        "X-Signature": "sha256=é",
        "X-Hub-Signature-256": "sha256=\u00ffx",
        "X-Gitlab-Token": "tökén",
        "Authorization": "Bäsic",
    }
    with pytest.raises(Unauthorized):
        receiver(receiver_type).accept(headers, BODY)


@pytest.mark.parametrize("depth", [65, 100_000])
@pytest.mark.parametrize("receiver_type", ["generic", "gitlab", "harbor"])
def test_deep_json_is_a_400(receiver_type: str, depth: int) -> None:
    body = b'{"a":' * depth + b"1" + b"}" * depth
    headers = {**JSON, "X-Gitlab-Token": TOKEN, "Authorization": TOKEN}
    with pytest.raises(WebhookRejected, match="nested deeper than 64 levels") as info:
        receiver(receiver_type).accept(headers, body)
    assert info.value.status == 400
    shallow = b'{"a":' * 64 + b"1" + b"}" * 64
    assert receiver(receiver_type).accept(headers, shallow).payload is not None


def test_the_budget_is_the_last_minute_of_every_worker() -> None:
    admit("r", Footprint(False, ages=[50.0, 10.0]), per_minute=3)  # two of three used
    with pytest.raises(TooManyRequests) as info:
        admit("r", Footprint(False, ages=[10.0, 50.0, 5.0]), per_minute=3)
    assert info.value.status == 429 and info.value.retry_after == 10  # when the 50 s old one leaves
    with pytest.raises(TooManyRequests) as info:
        admit("r", Footprint(False, ages=[59.5, 1.0, 30.0, 20.0]), per_minute=3)
    assert info.value.retry_after == 30  # two must leave before one more fits
    with pytest.raises(TooManyRequests) as info:
        admit("r", Footprint(False, ages=[59.9, 0.1]), per_minute=2)
    assert info.value.retry_after == 1  # never "retry in 0 s"
    admit("r", Footprint(False, ages=[1.0] * 10), per_minute=0)  # 0: no limit


def deep(levels: int) -> bytes:
    return ("[" * levels + "]" * levels).encode()


@pytest.mark.parametrize(
    ("signature", "matches"),
    [
        (hub(BODY, "sha1"), True),
        (hub(BODY, "sha512"), True),
        (" SHA256=" + hub(BODY)[7:].upper() + " ", True),  # algorithm and hex in any case, spaces trimmed
        ("sha256=", False),
        ("md5=" + hashlib.md5(BODY).hexdigest(), False),
        (hub(BODY)[7:], False),  # no algorithm
        (hub(BODY, key="other"), False),
        (hub(BODY + b" "), False),
    ],
)
def test_signatures(signature: str, matches: bool) -> None:
    assert signature_matches(signature, BODY, TOKEN) is matches


VERIFIED = {
    "generic: JSON decoded": ("generic", {}, BODY, {"ref": "refs/heads/main", "after": "abc"}),
    "generic: text kept": ("generic", {}, b"plain text", "plain text"),
    "generic: empty body": ("generic", {}, b"  ", None),
    "generic-hmac": (
        "generic-hmac",
        {"x-signature": hub(BODY, "sha512")},
        BODY,
        {"ref": "refs/heads/main", "after": "abc"},
    ),
    "github form": (
        "github",
        {
            "x-hub-signature-256": hub(b"payload=%7B%22a%22%3A1%7D"),
            "content-type": "application/x-www-form-urlencoded",
        },
        b"payload=%7B%22a%22%3A1%7D",
        {"a": 1},
    ),
    "github sha1 only": (
        "github",
        {"x-hub-signature": hub(BODY, "sha1"), "content-type": "application/json; charset=utf-8"},
        BODY,
        {"ref": "refs/heads/main", "after": "abc"},
    ),
    "bitbucket": (
        "bitbucket",
        {"x-hub-signature": hub(BODY), "content-type": "Application/JSON"},
        BODY,
        {"ref": "refs/heads/main", "after": "abc"},
    ),
    "gitlab": ("gitlab", {"x-gitlab-token": TOKEN}, b"", None),
    "harbor": ("harbor", {"authorization": TOKEN}, b"[1]", [1]),
    "dockerhub": (
        "dockerhub",
        {},
        json.dumps(
            {"push_data": {"tag": "v1"}, "repository": {"repo_url": "https://hub.docker.com/r/o/a"}}
        ).encode(),
        {"push_data": {"tag": "v1"}, "repository": {"repo_url": "https://hub.docker.com/r/o/a"}},
    ),
}


@pytest.mark.parametrize(("receiver_type", "headers", "body", "payload"), VERIFIED.values(), ids=VERIFIED)
def test_verified_payloads(receiver_type: str, headers: dict[str, str], body: bytes, payload: object) -> None:
    assert verify(receiver_type, TOKEN, headers, body).payload == payload


REJECTED = {
    "generic-hmac without signature": (
        "generic-hmac",
        {},
        BODY,
        Unauthorized,
        "missing or invalid X-Signature header (expected <sha1|sha256|sha512>=<hex HMAC>)",
    ),
    "github: sha256 header wins over a valid sha1 one": (
        "github",
        {
            "x-hub-signature-256": hub(BODY, key="x"),
            "x-hub-signature": hub(BODY, "sha1"),
            "content-type": "application/json",
        },
        BODY,
        Unauthorized,
        "missing or invalid X-Hub-Signature-256 / X-Hub-Signature header; "
        "set the webhook secret to the token of spec.secretRef",
    ),
    "github without content type": (
        "github",
        {"x-hub-signature-256": hub(BODY)},
        BODY,
        WebhookRejected,
        "unsupported Content-Type '(none)'; configure the webhook to send application/json",
    ),
    "github text/plain": (
        "github",
        {"x-hub-signature-256": hub(BODY), "content-type": "text/plain"},
        BODY,
        WebhookRejected,
        "unsupported Content-Type 'text/plain'; configure the webhook to send application/json",
    ),
    "github form without JSON": (
        "github",
        {"x-hub-signature-256": hub(b"payload=x"), "content-type": "application/x-www-form-urlencoded"},
        b"payload=x",
        WebhookRejected,
        "the body is not valid JSON (Expecting value: line 1 column 1 (char 0)); "
        "the form field 'payload' sends JSON",
    ),
    "gitlab wrong token": (
        "gitlab",
        {"x-gitlab-token": "nope"},
        BODY,
        Unauthorized,
        "missing or invalid X-Gitlab-Token header; send the token of spec.secretRef",
    ),
    "gitlab body not JSON": (
        "gitlab",
        {"x-gitlab-token": TOKEN},
        b"{",
        WebhookRejected,
        "the body is not valid JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1)); GitLab sends JSON",
    ),
    "harbor without header": (
        "harbor",
        {},
        BODY,
        Unauthorized,
        "missing or invalid Authorization header; send the token of spec.secretRef as the auth header",
    ),
    "harbor body not JSON": (
        "harbor",
        {"authorization": TOKEN},
        b"x",
        WebhookRejected,
        "the body is not valid JSON (Expecting value: line 1 column 1 (char 0)); Harbor sends JSON",
    ),
    "dockerhub without push data": (
        "dockerhub",
        {},
        b'{"push_data": {"tag": ""}, "repository": {"repo_url": "u"}}',
        WebhookRejected,
        "not a Docker Hub push: the body needs push_data.tag and repository.repo_url",
    ),
    "dockerhub list": (
        "dockerhub",
        {},
        b"[]",
        WebhookRejected,
        "not a Docker Hub push: the body needs push_data.tag and repository.repo_url",
    ),
    "dockerhub without repository URL": (
        "dockerhub",
        {},
        b'{"push_data": {"tag": "v1"}, "repository": {}}',
        WebhookRejected,
        "not a Docker Hub push: the body needs push_data.tag and repository.repo_url",
    ),
    "generic too deep": (
        "generic",
        {},
        deep(65),
        WebhookRejected,
        "the JSON body is nested deeper than 64 levels; send a flatter payload",
    ),
    "unknown type": ("quay", {}, BODY, WebhookRejected, "receiver type 'quay' is not supported"),
}


@pytest.mark.parametrize(
    ("receiver_type", "headers", "body", "error", "message"), REJECTED.values(), ids=REJECTED
)
def test_rejections_say_what_to_fix(
    receiver_type: str, headers: dict[str, str], body: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        verify(receiver_type, TOKEN, headers, body)
    assert type(info.value) is error
    assert str(info.value) == message


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert verify("generic", TOKEN, {}, deep(64)).payload is not None
    assert verify("generic", TOKEN, {}, ('{"a":' * 64 + "1" + "}" * 64).encode()).payload is not None
    with pytest.raises(WebhookRejected, match="nested deeper than 64 levels"):
        verify("generic", TOKEN, {}, ('{"a":' * 65 + "1" + "}" * 65).encode())


def test_event_and_delivery_id_come_from_the_type_headers() -> None:
    headers = {
        "x-github-event": "push",
        "x-gitlab-event": "Push Hook",
        "x-event-key": "repo:push",
        "x-gitlab-event-uuid": "",
        "x-request-uuid": "uuid-2",
        "x-request-id": "id-3",
    }
    signed = {**headers, "x-hub-signature-256": hub(BODY), "content-type": "application/json"}
    assert verify("github", TOKEN, signed, BODY).event == "push"
    assert verify("bitbucket", TOKEN, signed, BODY).event == "repo:push"
    gitlab = verify("gitlab", TOKEN, {**headers, "x-gitlab-token": TOKEN}, BODY)
    assert (gitlab.event, gitlab.delivery_id) == ("Push Hook", "uuid-2")  # empty headers are skipped
    generic = verify("generic", TOKEN, {**headers, "x-github-delivery": "gh-1"}, BODY)
    assert (generic.event, generic.delivery_id) == ("", "gh-1")  # generic has no event header
    assert verify("generic", TOKEN, {"idempotency-key": "k"}, BODY).delivery_id == "k"
    assert verify("generic", TOKEN, {}, BODY).delivery_id == ""


@pytest.mark.parametrize(
    "header",
    [
        "x-github-delivery",
        "x-gitlab-event-uuid",
        "x-request-uuid",
        "x-request-id",
        "x-delivery-id",
        "idempotency-key",
    ],
)
def test_each_delivery_header_names_the_delivery(header: str) -> None:
    assert verify("generic", TOKEN, {header: "d-1"}, BODY).delivery_id == "d-1"


def form(body: bytes) -> dict[str, str]:
    return {"x-hub-signature-256": hub(body), "content-type": "application/x-www-form-urlencoded"}


def test_bytes_that_are_not_utf8_never_crash_verification() -> None:
    """Undecodable bodies and headers (surrogates from a lenient server) are replaced, not raised."""
    assert verify("generic", TOKEN, {}, b"\xff not json").payload == "\ufffd not json"
    assert verify("github", TOKEN, form(b"payload=%7B%7D&x=\xff"), b"payload=%7B%7D&x=\xff").payload == {}
    assert signature_matches("sha256=\udcff", BODY, TOKEN) is False
    with pytest.raises(Unauthorized):
        verify("gitlab", TOKEN, {"x-gitlab-token": "\udcff"}, BODY)


def test_form_without_payload_field_carries_nothing() -> None:
    assert verify("github", TOKEN, form(b"x=1"), b"x=1").payload is None


@pytest.mark.parametrize("receiver_type", ["github", "dockerhub"])
def test_json_types_refuse_a_body_that_is_not_json(receiver_type: str) -> None:
    headers = {"x-hub-signature-256": hub(b"not json"), "content-type": "application/json"}
    with pytest.raises(WebhookRejected) as info:
        verify(receiver_type, TOKEN, headers, b"not json")
    assert str(info.value) == (
        "the body is not valid JSON (Expecting value: line 1 column 1 (char 0)); the webhook sends JSON"
    )
