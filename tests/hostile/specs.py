"""Minimal valid Flux and Flagger objects, and the hostile or broken edits the corpus makes to them."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

SECRET = "ghp_SECRETtoken1234"  # must never appear in an error message

BASES: dict[str, dict[str, Any]] = {
    "GitRepository": {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "spec": {"interval": "1m", "url": "https://example.com/org/app.git", "ref": {"branch": "main"}},
    },
    "OCIRepository": {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "spec": {"interval": "1m", "url": "oci://ghcr.io/org/manifests", "ref": {"tag": "latest"}},
    },
    "HelmRepository": {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "spec": {"interval": "1m", "url": "https://charts.example.com"},
    },
    "Bucket": {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "spec": {"interval": "1m", "bucketName": "models", "endpoint": "s3.example.com"},
    },
    "Kustomization": {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "spec": {
            "interval": "10m",
            "path": "./apps",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
        },
    },
    "HelmRelease": {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "spec": {
            "interval": "5m",
            "chart": {
                "spec": {
                    "chart": "web",
                    "version": ">=1.0.0",
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                }
            },
        },
    },
    "ImageRepository": {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "spec": {"interval": "5m", "image": "ghcr.io/org/app"},
    },
    "ImagePolicy": {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}},
    },
    "ImageUpdateAutomation": {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "spec": {
            "interval": "5m",
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "git": {
                "checkout": {"ref": {"branch": "main"}},
                "commit": {"author": {"name": "bot", "email": "bot@example.com"}},
            },
        },
    },
    "Alert": {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
        "spec": {"providerRef": {"name": "slack"}, "eventSources": [{"kind": "Kustomization", "name": "*"}]},
    },
    "Provider": {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
        "spec": {"type": "slack", "channel": "general", "secretRef": {"name": "slack"}},
    },
    "Receiver": {
        "apiVersion": "notification.toolkit.fluxcd.io/v1",
        "spec": {
            "type": "github",
            "events": ["push"],
            "secretRef": {"name": "token"},
            "resources": [
                {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "name": "app"}
            ],
        },
    },
    "Canary": {
        "apiVersion": "flagger.app/v1beta1",
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "service": {"port": 80},
            "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10},
        },
    },
}


def manifest(kind: str, name: str = "app", namespace: str = "flux-system") -> dict[str, Any]:
    base = copy.deepcopy(BASES[kind])
    return {
        "apiVersion": base["apiVersion"],
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": base["spec"],
    }


def _set(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node = obj
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return obj


#: (kind, field path, hostile value): each must be refused naming that field.
FIELD_EDITS: list[tuple[str, str, Any]] = []
_INTERVAL_KINDS = [
    "GitRepository",
    "OCIRepository",
    "HelmRepository",
    "Bucket",
    "Kustomization",
    "HelmRelease",
    "ImageRepository",
    "ImageUpdateAutomation",
]
for _kind in _INTERVAL_KINDS:
    for _value in ["1d", "-5m", "5", "1" * 5000, "1h30", "", "forever", 300, ["1m"], "1e3s", "\u0661m"]:
        FIELD_EDITS.append((_kind, "spec.interval", _value))
for _kind in BASES:
    for _name in ["UPPER", "-leading", "trailing-", "a" * 254, "a_b", "a/b", "../etc", "", "a..b", "é"]:
        FIELD_EDITS.append((_kind, "metadata.name", _name))
for _url in [
    "ftp://example.com/app.git",
    "--upload-pack=touch /tmp/pwned",
    f"deploy:{SECRET}@github.com:org/app.git",
    "file:///etc/passwd\n",
    "",
    "x" * 10_000,
]:
    FIELD_EDITS.append(("GitRepository", "spec.url", _url))
for _semver in ["v" + "0|" * 400 + "!", ">=1.0.0 <", "~>", "1.2.3.4.5", "||||", "> = 1", "1" * 3000]:
    FIELD_EDITS.append(("GitRepository", "spec.ref.semver", _semver))
    FIELD_EDITS.append(("ImagePolicy", "spec.policy.semver.range", _semver))
for _pattern in ["(?=x)", "(a", r"(a)\1", "a{1000}{1000}", "[z-a]", "x" * 5000]:
    FIELD_EDITS.append(("ImagePolicy", "spec.filterTags.pattern", _pattern))
    FIELD_EDITS.append(("ImageRepository", "spec.exclusionList", [_pattern]))
for _kind, _path, _value in [
    ("OCIRepository", "spec.url", "https://ghcr.io/org/x"),
    ("OCIRepository", "spec.layerSelector.operation", "execute"),
    ("HelmRepository", "spec.url", "ftp://charts.example.com"),
    ("HelmRepository", "spec.type", "git"),
    ("Bucket", "spec.provider", "azure-blob-storage-but-wrong"),
    ("Bucket", "spec.bucketName", ""),
    ("Kustomization", "spec.sourceRef.kind", "ConfigMap"),
    ("Kustomization", "spec.prune", "yes"),
    ("Kustomization", "spec.postBuild.substitute", {"bad-name": "x"}),
    ("Kustomization", "spec.postBuild.substitute", {"X": 1}),
    ("Kustomization", "spec.timeout", "soon"),
    ("HelmRelease", "spec.chart.spec.sourceRef.kind", "GitRepo"),
    ("HelmRelease", "spec.install.remediation.retries", "three"),
    ("ImageRepository", "spec.image", "ghcr.io/org/app:1.0"),
    ("ImagePolicy", "spec.policy", {}),
    ("ImagePolicy", "spec.policy.alphabetical.order", "sideways"),
    ("ImageUpdateAutomation", "spec.sourceRef.kind", "Bucket"),
    ("Alert", "spec.eventSeverity", "panic"),
    ("Alert", "spec.eventSources", [{"kind": "Pod", "name": "x"}]),
    ("Alert", "spec.providerRef", {}),
    ("Provider", "spec.type", "carrier-pigeon"),
    ("Provider", "spec.timeout", "1y"),
    ("Receiver", "spec.type", "smtp"),
    ("Receiver", "spec.resources", "everything"),
    ("Canary", "spec.analysis.stepWeight", "ten"),
    ("Canary", "spec.analysis.interval", "5"),
    ("Canary", "spec.targetRef.kind", "Pod"),
    ("Canary", "spec.service.port", "http"),
]:
    FIELD_EDITS.append((_kind, _path, _value))


def field_edit_cases() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(case id, field, manifest)`` for every edit."""
    for index, (kind, path, value) in enumerate(FIELD_EDITS):
        obj = _set(manifest(kind), path, value)
        yield f"{kind}.{path}#{index}", path, obj
