"""Built-in objects the sandbox tests create."""

from __future__ import annotations

from typing import Any

import yaml


def deployment(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """An apps/v1 Deployment selecting ``app: <name>``; ``spec`` keys go beside the template."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": list(containers)}},
            **spec,
        },
    }


def echo_deployment(
    name: str, image: str, *, version: str = "one", replicas: int = 1, ready_after: int = 0
) -> str:
    """The dev kit's echo image as a Deployment, as YAML for ``kubectl -f -``: each Pod reports
    its ``VERSION`` and Pod IP and turns ready on port ``http`` (8080) ``ready_after`` seconds
    after it starts; the Pod template carries ``version`` so routes can pick a version."""
    env = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "VERSION", "value": version},
        {"name": "READY_AFTER", "value": str(ready_after)},
    ]
    container = {
        "name": "echo",
        "image": image,
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": env,
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1},
    }
    body = deployment(name, container, replicas=replicas)
    body["spec"]["template"]["metadata"]["labels"]["version"] = version
    return yaml.safe_dump(body, sort_keys=False)
