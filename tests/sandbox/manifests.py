"""Built-in objects the sandbox tests create."""

from __future__ import annotations

from typing import Any


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
