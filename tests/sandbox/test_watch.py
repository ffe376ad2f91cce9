"""Watch through the real ``kubernetes`` client: initial events, resume from a resourceVersion, selectors."""

from __future__ import annotations

import json
import threading

from kubernetes import client, watch

from flux_devkit.sandbox import Sandbox


def test_watch_sends_existing_objects_then_changes(sandbox: Sandbox, sandbox_namespace: str) -> None:
    core = client.CoreV1Api(sandbox.api_client())
    core.create_namespaced_config_map(sandbox_namespace, {"metadata": {"name": "before"}})

    def later() -> None:
        core.create_namespaced_config_map(sandbox_namespace, {"metadata": {"name": "after"}})
        core.delete_namespaced_config_map("after", sandbox_namespace)

    seen: list[tuple[str, str]] = []
    stream = watch.Watch()
    threading.Timer(0.2, later).start()
    for event in stream.stream(core.list_namespaced_config_map, sandbox_namespace, timeout_seconds=20):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            stream.stop()
    assert seen == [("ADDED", "before"), ("ADDED", "after"), ("DELETED", "after")]


def test_watch_resumes_from_resource_version_with_label_selector(
    sandbox: Sandbox, sandbox_namespace: str
) -> None:
    core = client.CoreV1Api(sandbox.api_client())
    listing = core.list_namespaced_config_map(sandbox_namespace)
    core.create_namespaced_config_map(
        sandbox_namespace, {"metadata": {"name": "skip", "labels": {"w": "no"}}}
    )
    core.create_namespaced_config_map(
        sandbox_namespace, {"metadata": {"name": "keep", "labels": {"w": "yes"}}}
    )
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map,
            sandbox_namespace,
            resource_version=listing.metadata.resource_version,
            label_selector="w=yes",
            timeout_seconds=1,
        )
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "keep")]


def test_watch_list_ends_initial_events_with_a_bookmark(sandbox: Sandbox, sandbox_namespace: str) -> None:
    api = sandbox.api_client()
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(sandbox_namespace, {"metadata": {"name": "one"}})
    response = api.call_api(
        f"/api/v1/namespaces/{sandbox_namespace}/configmaps",
        "GET",
        query_params=[
            ("watch", "true"),
            ("sendInitialEvents", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersionMatch", "NotOlderThan"),
            ("timeoutSeconds", "1"),
        ],
        auth_settings=["BearerToken"],
        _preload_content=False,
        _return_http_data_only=True,
    )
    events = [json.loads(line) for line in response.data.splitlines() if line.strip()]
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_objects_leaving_the_selection_arrive_as_deleted(sandbox: Sandbox, sandbox_namespace: str) -> None:
    core = client.CoreV1Api(sandbox.api_client())
    core.create_namespaced_config_map(
        sandbox_namespace, {"metadata": {"name": "mover", "labels": {"w": "no"}}}
    )
    start = core.list_namespaced_config_map(sandbox_namespace).metadata.resource_version
    core.replace_namespaced_config_map(
        "mover",
        sandbox_namespace,
        {"metadata": {"name": "mover", "labels": {"w": "yes"}}, "data": {"a": "1"}},
    )
    core.replace_namespaced_config_map(
        "mover",
        sandbox_namespace,
        {"metadata": {"name": "mover", "labels": {"w": "yes"}}, "data": {"a": "2"}},
    )
    core.replace_namespaced_config_map(
        "mover", sandbox_namespace, {"metadata": {"name": "mover", "labels": {}}}
    )
    events = watch.Watch().stream(
        core.list_namespaced_config_map,
        sandbox_namespace,
        resource_version=start,
        label_selector="w=yes",
        timeout_seconds=1,
    )
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
