"""Fidelity corpus: overlays, each with a hand-written plain-kustomize twin of the expected result.

A case's ``files`` are the source artifact; ``spec`` the Flux Kustomization spec fields;
``vars`` Airflow-side variables. ``expected`` overrides files to give a tree that plain
``kubectl kustomize`` builds into exactly what Flux would apply: Flux's layers written into
the kustomization by hand and variables substituted by hand. The test renders the case and
compares with kustomize's build of that twin, so neither side is computed by our code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
"""
CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
"""
BASE = {
    "base/kustomization.yaml": "resources:\n- deploy.yaml\n- service.yaml\n- config.yaml\n",
    "base/deploy.yaml": DEPLOY,
    "base/service.yaml": SERVICE,
    "base/config.yaml": CONFIG,
}
VAR_DEPLOY = DEPLOY.replace("replicas: 1", "replicas: ${REPLICAS}").replace(
    "image: nginx:1.25",
    'image: "nginx:${TAG:=1.25}"\n        env:\n        - {name: CLUSTER, value: "${CLUSTER}"}',
)


def var_deploy(replicas: str, tag: str, cluster: str) -> str:
    return (
        VAR_DEPLOY.replace("${REPLICAS}", replicas)
        .replace("${TAG:=1.25}", tag)
        .replace("${CLUSTER}", cluster)
    )


@dataclass
class Case:
    name: str
    files: dict[str, str]
    path: str = "./app"
    spec: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    expected: dict[str, str] = field(default_factory=dict)
    #: commonMetadata re-serialises objects: compare parsed objects, not bytes.
    semantic: bool = False


def overlay(body: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**BASE, "app/kustomization.yaml": body, **(extra or {})}


CASES = [
    Case(
        "plain-folder-generated",
        {"app/deploy.yaml": DEPLOY, "app/svc/service.yaml": SERVICE},
        expected={"app/kustomization.yaml": "resources:\n- ./deploy.yaml\n- ./svc/service.yaml\n"},
    ),
    Case(
        "nested-kustomization-folder",
        {
            **BASE,
            "app/extra.yaml": CONFIG.replace("settings", "extra"),
            "app/base/kustomization.yaml": "resources: [../../base]\n",
        },
        expected={"app/kustomization.yaml": "resources:\n- ./base\n- ./extra.yaml\n"},
    ),
    Case("resources-overlay", overlay("resources:\n- ../base\n")),
    Case(
        "deprecated-bases",
        overlay(
            "bases:\n- ../base\nresources:\n- extra.yaml\n",
            {"app/extra.yaml": CONFIG.replace("settings", "extra")},
        ),
    ),
    Case(
        "patches-strategic-merge",
        overlay(
            "resources: [../base]\npatchesStrategicMerge:\n- patch.yaml\n",
            {
                "app/patch.yaml": "apiVersion: apps/v1\nkind: Deployment\n"
                "metadata: {name: web}\nspec: {replicas: 4}\n"
            },
        ),
    ),
    Case(
        "patches-json6902-legacy",
        overlay(
            "resources: [../base]\npatchesJson6902:\n"
            "- target: {group: apps, version: v1, kind: Deployment, name: web}\n"
            "  path: p.yaml\n",
            {"app/p.yaml": "- {op: replace, path: /spec/replicas, value: 2}\n"},
        ),
    ),
    Case("common-labels", overlay("resources: [../base]\ncommonLabels: {team: ml}\n")),
    Case(
        "common-annotations-labels-field",
        overlay(
            "resources: [../base]\ncommonAnnotations: {owner: ml}\n"
            "labels:\n- pairs: {tier: api}\n  includeSelectors: false\n"
        ),
    ),
    Case(
        "configmap-generator-hash",
        overlay("resources: [../base]\nconfigMapGenerator:\n- name: gen\n  literals: [a=1, b=2]\n"),
    ),
    Case(
        "secret-generator-envs",
        overlay(
            "resources: [../base]\nsecretGenerator:\n- name: creds\n  envs: [creds.env]\n",
            {"app/creds.env": "USER=ml\nTOKEN=abc\n"},
        ),
    ),
    Case(
        "generator-options-no-hash",
        overlay(
            "resources: [../base]\ngeneratorOptions: {disableNameSuffixHash: true}\nconfigMapGenerator:\n"
            "- name: plain\n  files: [conf.ini]\n",
            {"app/conf.ini": "[a]\nx=1\n"},
        ),
    ),
    Case("replicas", overlay("resources: [../base]\nreplicas:\n- {name: web, count: 7}\n")),
    Case(
        "images-in-file",
        overlay("resources: [../base]\nimages:\n- {name: nginx, newName: ghcr.io/x/nginx, newTag: '2'}\n"),
    ),
    Case(
        "components",
        {
            **BASE,
            "app/kustomization.yaml": "resources: [../base]\ncomponents: [../comp]\n",
            "comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
            "commonAnnotations: {from: component}\n",
        },
    ),
    Case(
        "spec-target-namespace",
        overlay("resources: [../base]\nnamespace: old\n"),
        spec={"targetNamespace": "prod"},
        expected={"app/kustomization.yaml": "resources: [../base]\nnamespace: prod\n"},
    ),
    Case(
        "spec-prefix-suffix",
        overlay("resources: [../base]\nnamePrefix: a-\n"),
        spec={"namePrefix": "p-", "nameSuffix": "-s"},
        expected={"app/kustomization.yaml": "resources: [../base]\nnamePrefix: p-\nnameSuffix: -s\n"},
    ),
    Case(
        "spec-images-merge",
        overlay("resources: [../base]\nimages:\n- {name: nginx, newTag: '1.0'}\n"),
        spec={
            "images": [{"name": "nginx", "digest": "sha256:" + "a" * 64}, {"name": "redis", "newTag": "7"}]
        },
        expected={
            "app/kustomization.yaml": "resources: [../base]\nimages:\n- {name: nginx, digest: 'sha256:"
            + "a" * 64
            + "'}\n- {name: redis, newTag: '7'}\n"
        },
    ),
    Case(
        "spec-patches",
        overlay("resources: [../base]\n"),
        spec={
            "patches": [
                {
                    "patch": "- {op: replace, path: /spec/replicas, value: 3}\n",
                    "target": {"kind": "Deployment", "name": "web"},
                },
                {
                    "patch": "apiVersion: v1\nkind: ConfigMap\n"
                    "metadata: {name: settings}\ndata: {mode: slow}\n"
                },
            ]
        },
        expected={
            "app/kustomization.yaml": "resources: [../base]\npatches:\n- patch: |\n"
            "    - {op: replace, path: /spec/replicas, value: 3}\n  target: {kind: Deployment, name: web}\n"
            "- patch: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: settings}\n"
            "    data: {mode: slow}\n"
        },
    ),
    Case(
        "spec-components",
        {
            **BASE,
            "app/kustomization.yaml": "resources: [../base]\n",
            "comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\n"
            "kind: Component\nnamePrefix: c-\n",
        },
        spec={"components": ["../comp", "../absent"], "ignoreMissingComponents": True},
        expected={"app/kustomization.yaml": "resources: [../base]\ncomponents: [../comp]\n"},
    ),
    Case(
        "spec-common-metadata",
        {
            "app/config.yaml": CONFIG,
            "app/service.yaml": SERVICE.replace("name: web", "name: web\n  labels: {app: web}"),
            "app/kustomization.yaml": "resources: [config.yaml, service.yaml]\n",
        },
        spec={"commonMetadata": {"labels": {"app": "override", "env": "prod"}, "annotations": {"a": "b"}}},
        expected={
            "app/kustomization.yaml": "resources: [config.yaml, service.yaml]\ncommonAnnotations: {a: b}\n"
            "labels:\n- pairs: {app: override, env: prod}\n"
        },
        semantic=True,
    ),
    Case(
        "substitute-inline-and-defaults",
        {"app/deploy.yaml": VAR_DEPLOY},
        spec={"postBuild": {"substitute": {"REPLICAS": "3", "CLUSTER": "prod-1"}}},
        expected={
            "app/deploy.yaml": var_deploy("3", "1.25", "prod-1"),
            "app/kustomization.yaml": "resources: [deploy.yaml]\n",
        },
    ),
    Case(
        "substitute-airflow-vars-under-inline-values",
        {"app/deploy.yaml": VAR_DEPLOY},
        spec={"postBuild": {"substitute": {"REPLICAS": "2"}}},
        vars={"TAG": "1.27", "CLUSTER": "stage", "REPLICAS": "5"},
        expected={
            "app/deploy.yaml": var_deploy("2", "1.27", "stage"),
            "app/kustomization.yaml": "resources: [deploy.yaml]\n",
        },
    ),
    Case(
        "substitute-inline-values-are-literal",
        {"app/config.yaml": CONFIG.replace("mode: fast", "pass: ${PASS}\n  cmd: ${CMD}\n  tail: ${TAIL}")},
        spec={"postBuild": {"substitute": {"PASS": "pa$$word", "CMD": "echo ${HOME}", "TAIL": "a${"}}},
        vars={"HOME": "/root"},
        expected={
            "app/config.yaml": CONFIG.replace(
                "mode: fast", "pass: pa$$word\n  cmd: echo ${HOME}\n  tail: a${"
            ),
            "app/kustomization.yaml": "resources: [config.yaml]\n",
        },
    ),
    Case(
        "substitute-opt-out-and-escape",
        {
            "app/deploy.yaml": VAR_DEPLOY,
            "app/keep.yaml": CONFIG.replace("mode: fast", "mode: ${REPLICAS}").replace(
                "name: settings",
                "name: keep\n  annotations: {kustomize.toolkit.fluxcd.io/substitute: disabled}",
            ),
            "app/escaped.yaml": CONFIG.replace("mode: fast", "mode: $${REPLICAS}-$HOME").replace(
                "settings", "escaped"
            ),
        },
        spec={"postBuild": {"substitute": {"REPLICAS": "2", "CLUSTER": "c", "TAG": "1.26"}}},
        expected={
            "app/deploy.yaml": var_deploy("2", "1.26", "c"),
            "app/escaped.yaml": CONFIG.replace("mode: fast", "mode: ${REPLICAS}-$HOME").replace(
                "settings", "escaped"
            ),
            "app/kustomization.yaml": "resources: [deploy.yaml, escaped.yaml, keep.yaml]\n",
        },
    ),
    Case(
        "substitute-no-vars-leaves-defaults",
        {"app/deploy.yaml": VAR_DEPLOY},
        spec={"postBuild": {"substitute": {}}},
        expected={"app/kustomization.yaml": "resources: [deploy.yaml]\n"},
    ),
    Case(
        "substitute-always-strategy",
        {"app/config.yaml": CONFIG.replace("fast", "${MODE:=slow}")},
        spec={"postBuild": {"substituteStrategy": "Always"}},
        expected={
            "app/config.yaml": CONFIG.replace("fast", "slow"),
            "app/kustomization.yaml": "resources: [config.yaml]\n",
        },
    ),
]
