"""Receivers over HTTP against a real ``airflow api-server`` with the plugin loaded."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid

import pytest
import requests

from airflow_flux_provider.plugins.receiver_app import guarded
from airflow_flux_provider.receivers import Delivery, GuardSettings, TooManyRequests
from tests.receivers.conftest import MAX_BODY, RATE_LIMIT, TOKENS, ReceiverServer

PUSH = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


def github_headers(body: bytes, *, key: str = TOKENS["github-token"], event: str = "push") -> dict[str, str]:
    signature = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={signature}",
    }


def runs(server: ReceiverServer, dag_id: str) -> list[dict[str, object]]:
    response = server.api.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})
    response.raise_for_status()
    return list(response.json()["dag_runs"])


def test_signed_github_push_creates_dag_run(receiver_server: ReceiverServer) -> None:
    headers = github_headers(PUSH)
    response = requests.post(
        receiver_server.hook_url("github-push", "github-token"), data=PUSH, headers=headers
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["receiver"] == "Receiver/flux-system/github-push" and answer["event"] == "push"
    (created,) = answer["dagRuns"]
    run = receiver_server.api.api("GET", f"/dags/flux_receiver_target/dagRuns/{created['run_id']}").json()
    assert run["state"] == "queued"
    assert run["conf"]["payload"] == json.loads(PUSH)
    assert run["conf"]["delivery_id"] == headers["X-GitHub-Delivery"]
    assert run["triggering_user_name"] == "Receiver/flux-system/github-push"


def test_bad_or_missing_signature_gets_401_and_triggers_nothing(receiver_server: ReceiverServer) -> None:
    before = len(runs(receiver_server, "flux_receiver_target"))
    url = receiver_server.hook_url("github-push", "github-token")
    wrong = github_headers(PUSH, key="not-the-token")
    missing = {k: v for k, v in github_headers(PUSH).items() if k != "X-Hub-Signature-256"}
    tampered = github_headers(PUSH)
    for headers, body in ((wrong, PUSH), (missing, PUSH), (tampered, PUSH + b" ")):
        response = requests.post(url, data=body, headers=headers)
        assert response.status_code == 401, response.text
        assert TOKENS["github-token"] not in response.text
    hmac_url = receiver_server.hook_url("signed-hook", "hmac-token")
    assert requests.post(hmac_url, data=PUSH, headers={"X-Signature": "sha256=00"}).status_code == 401
    assert len(runs(receiver_server, "flux_receiver_target")) == before


def test_duplicate_delivery_is_ignored(receiver_server: ReceiverServer) -> None:
    before = len(runs(receiver_server, "flux_receiver_target"))
    headers = github_headers(PUSH)
    url = receiver_server.hook_url("github-push", "github-token")
    first = requests.post(url, data=PUSH, headers=headers)
    second = requests.post(url, data=PUSH, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["duplicate"] is False and second.json()["duplicate"] is True
    assert len(runs(receiver_server, "flux_receiver_target")) == before + 1


def test_event_not_in_spec_events_is_refused(receiver_server: ReceiverServer) -> None:
    url = receiver_server.hook_url("github-push", "github-token")
    response = requests.post(url, data=PUSH, headers=github_headers(PUSH, event="issues"))
    assert response.status_code == 400 and "spec.events" in response.json()["detail"]
    ping = requests.post(url, data=PUSH, headers=github_headers(PUSH, event="ping"))
    assert ping.status_code == 200 and ping.json()["ping"] is True


def test_oversized_body_is_refused(receiver_server: ReceiverServer) -> None:
    body = b"x" * (MAX_BODY + 1)
    url = receiver_server.hook_url("github-push", "github-token")
    assert requests.post(url, data=body, headers=github_headers(body)).status_code == 413

    def chunks():  # no Content-Length: the limit applies while streaming
        yield from (b"y" * 8192 for _ in range(MAX_BODY // 8192 + 2))

    assert requests.post(url, data=chunks(), headers=github_headers(b"")).status_code == 413


def test_hmac_receiver_accepts_flux_style_signature(receiver_server: ReceiverServer) -> None:
    signature = hmac.new(TOKENS["hmac-token"].encode(), PUSH, hashlib.sha512).hexdigest()
    response = requests.post(
        receiver_server.hook_url("signed-hook", "hmac-token"),
        data=PUSH,
        headers={"X-Signature": f"sha512={signature}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["dagRuns"][0]["dag_id"] == "flux_receiver_target"


def test_seed_generic_receiver_emits_asset_event(receiver_server: ReceiverServer) -> None:
    response = requests.post(
        receiver_server.hook_url("model-update-webhook", "webhook-token"), json={"push": 1}
    )
    assert response.status_code == 200, response.text
    (event,) = response.json()["assetEvents"]
    assert event["uri"] == "flux://flux-system/GitRepository/ml-gitops"
    listed = receiver_server.api.api("GET", "/assets/events", params={"limit": 100}).json()
    found = next(e for e in listed["asset_events"] if e["id"] == event["id"])
    assert found["uri"] == event["uri"]
    assert found["extra"]["receiver"] == "Receiver/flux-system/model-update-webhook"


def test_unknown_paths_and_unusable_receivers_get_404(receiver_server: ReceiverServer) -> None:
    assert requests.post(f"{receiver_server.api.url}/flux/hook/{'0' * 64}", data=b"{}").status_code == 404
    # a receiver whose token connection does not exist is not served (and did not stop the others)
    missing = receiver_server.api.url + "/flux/hook/" + hashlib.sha256(b"no-tokenflux-system").hexdigest()
    assert requests.post(missing, data=b"{}").status_code == 404


def test_rest_api_still_requires_airflow_auth(receiver_server: ReceiverServer) -> None:
    assert requests.get(f"{receiver_server.api.url}/api/v2/dags").status_code == 401


DOCKERHUB_PUSH = json.dumps(
    {"push_data": {"tag": "v2"}, "repository": {"repo_url": "https://hub.docker.com/r/a/b"}}
)


def _bitbucket_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(TOKENS["bitbucket-token"].encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("name", "secret", "body", "good", "bad"),
    [
        (
            "gitlab-push",
            "gitlab-token",
            PUSH,
            {"X-Gitlab-Token": TOKENS["gitlab-token"], "X-Gitlab-Event": "Push Hook"},
            {"X-Gitlab-Token": "guess", "X-Gitlab-Event": "Push Hook"},
        ),
        (
            "harbor-push",
            "harbor-token",
            PUSH,
            {"Authorization": TOKENS["harbor-token"]},
            {"Authorization": "x"},
        ),
        ("dockerhub-push", "dockerhub-token", DOCKERHUB_PUSH.encode(), {}, None),
        (
            "bitbucket-push",
            "bitbucket-token",
            PUSH,
            {
                "Content-Type": "application/json",
                "X-Event-Key": "repo:push",
                "X-Hub-Signature": _bitbucket_signature(PUSH),
            },
            {"Content-Type": "application/json", "X-Event-Key": "repo:push", "X-Hub-Signature": "sha256=00"},
        ),
    ],
)
def test_other_receiver_types_over_http(
    receiver_server: ReceiverServer,
    name: str,
    secret: str,
    body: bytes,
    good: dict[str, str],
    bad: dict[str, str] | None,
) -> None:
    url = receiver_server.hook_url(name, secret)
    accepted = requests.post(url, data=body, headers=good)
    assert accepted.status_code == 200, accepted.text
    run_id = accepted.json()["dagRuns"][0]["run_id"]
    run = receiver_server.api.api("GET", f"/dags/flux_receiver_target/dagRuns/{run_id}").json()
    assert run["conf"]["receiver"] == f"Receiver/flux-system/{name}"
    assert run["conf"]["payload"] == json.loads(body)
    if bad is not None:
        assert requests.post(url, data=body, headers=bad).status_code == 401


def test_failed_trigger_is_500_and_the_retry_is_not_a_duplicate(receiver_server: ReceiverServer) -> None:
    url = receiver_server.hook_url("missing-dag", "missing-dag-token")
    headers = {"X-Gitlab-Token": TOKENS["missing-dag-token"], "X-Gitlab-Event-UUID": str(uuid.uuid4())}
    for _ in range(2):  # the sender's retry is tried again, not swallowed as a duplicate
        response = requests.post(url, data=PUSH, headers=headers)
        assert response.status_code == 500
        assert "triggering failed" in response.json()["detail"]


def test_asset_events_are_deduplicated_through_the_database(receiver_server: ReceiverServer) -> None:
    """What a second API server worker (with its own delivery log) does with a repeated delivery."""
    from airflow_flux_provider.plugins.receiver_app import emit_asset_events
    from airflow_flux_provider.receivers import Delivery

    delivery = Delivery(
        receiver="Receiver/flux-system/model-update-webhook",
        event="",
        delivery_id=str(uuid.uuid4()),
        payload=None,
        dag_ids=(),
        asset_uris=("flux://flux-system/GitRepository/ml-gitops",),
    )
    assert [e["uri"] for e in emit_asset_events(delivery)] == ["flux://flux-system/GitRepository/ml-gitops"]
    assert emit_asset_events(delivery) == []


@pytest.mark.parametrize(
    "signature", ["sha256=é" + "0" * 63, "sha256=\u00ff\u00fe", "sha1=ünïcödé"], ids=["one", "two", "sha1"]
)
def test_non_ascii_signature_is_401_not_500(receiver_server: ReceiverServer, signature: str) -> None:
    """compare_digest raised TypeError on non-ASCII text: a traceback and a 500 (issue 16.10)."""
    headers = {**github_headers(PUSH), "X-Hub-Signature-256": signature}
    encoded = {k: v.encode("latin-1") for k, v in headers.items()}
    response = requests.post(
        receiver_server.hook_url("github-push", "github-token"), data=PUSH, headers=encoded
    )
    assert response.status_code == 401, response.text
    assert "Traceback" not in response.text


def test_deeply_nested_json_is_400_not_500(receiver_server: ReceiverServer) -> None:
    for depth in (65, 30_000):  # past our limit, and past the JSON parser's recursion limit
        body = b"[" * depth + b"]" * depth
        response = requests.post(
            receiver_server.hook_url("github-push", "github-token"), data=body, headers=github_headers(body)
        )
        assert response.status_code == 400, response.text
        assert "nested deeper than 64 levels" in response.json()["detail"]
        generic = requests.post(receiver_server.hook_url("flood", "flood-token"), data=body)
        assert generic.status_code == 400, generic.text


def test_a_flood_gets_429_with_retry_after(receiver_server: ReceiverServer) -> None:
    url = receiver_server.hook_url("flood", "flood-token")
    answers = [requests.post(url, json={"n": n}) for n in range(RATE_LIMIT + 5)]
    codes = [a.status_code for a in answers]
    assert codes.count(200) <= RATE_LIMIT and codes[-1] == 429, codes
    refused = answers[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "requests a minute" in refused.json()["detail"]
    # a forged request is refused before it could use up the budget of the real sender
    forged = receiver_server.api.url + "/flux/hook/" + "0" * 64
    assert requests.post(forged, json={}).status_code == 404


def _delivery(receiver: str, body: bytes, delivery_id: str = "") -> Delivery:
    """What an API server worker accepted: the asset every test receiver names, no DAG."""
    return Delivery(
        receiver=receiver,
        event="",
        delivery_id=delivery_id,
        payload=json.loads(body),
        dag_ids=(),
        asset_uris=("flux://flux-system/GitRepository/ml-gitops",),
        body_sha256=hashlib.sha256(body).hexdigest(),
    )


def test_a_replayed_body_is_refused_by_another_worker(receiver_server: ReceiverServer) -> None:
    """Two workers (two locks, nothing shared in memory) decide from the Airflow database."""
    receiver, guard = f"Receiver/flux-system/replay-{uuid.uuid4().hex[:8]}", GuardSettings(dedupe_bodies=True)
    worker_1, worker_2 = threading.Lock(), threading.Lock()
    done = guarded(worker_1, _delivery(receiver, PUSH, "id-1"), guard)
    assert done is not None and len(done["assetEvents"]) == 1
    assert guarded(worker_2, _delivery(receiver, PUSH, "id-2"), guard) is None  # a fresh id, the same body
    assert guarded(worker_2, _delivery(receiver, PUSH), guard) is None  # no id at all
    assert guarded(worker_2, _delivery(receiver, PUSH, "id-1"), guard) is None  # the sender's retry
    assert guarded(worker_2, _delivery(receiver, PUSH + b" "), guard) is not None  # another body


def test_the_rate_limit_holds_across_workers(receiver_server: ReceiverServer) -> None:
    receiver, guard = f"Receiver/flux-system/rate-{uuid.uuid4().hex[:8]}", GuardSettings(rate_per_minute=2)
    worker_1, worker_2 = threading.Lock(), threading.Lock()
    assert guarded(worker_1, _delivery(receiver, b'{"n": 0}', "first"), guard) is not None
    assert guarded(worker_2, _delivery(receiver, b'{"n": 1}'), guard) is not None
    with pytest.raises(TooManyRequests) as info:  # each worker acted once; the receiver twice
        guarded(worker_1, _delivery(receiver, b'{"n": 2}'), guard)
    assert 55 <= info.value.retry_after <= 60
    assert guarded(worker_2, _delivery(receiver, b'{"n": 0}', "first"), guard) is None  # a retry: no 429
