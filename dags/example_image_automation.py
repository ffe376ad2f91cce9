"""Image automation, as the seed's ImageRepository -> ImagePolicy -> ImageUpdateAutomation.

``watch`` waits (deferred, in the triggerer) until the policy would choose a tag other
than ``params.last_tag``; then the tags are scanned and stored, the policy picks one and
the update task rewrites the marked manifests under ``update.path`` and pushes. The
registry and Git URLs are params so the same DAG runs against the local dev services
(``insecure: true`` for their plain-HTTP registry). Connections: ``ghcr-credentials``
(flux_registry) as the seed's secretRef, ``ml-gitops`` (flux_git) for the push.
"""

from __future__ import annotations

from airflow.sdk import dag

from airflow_flux_provider.operators.images import (
    ImagePolicyOperator,
    ImageRepositoryScanOperator,
    ImageUpdateAutomationOperator,
)
from airflow_flux_provider.sensors.images import ImagePolicySensor

IMAGE_REPOSITORY = """
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata:
  name: ml-training
  namespace: flux-system
spec:
  image: "{{ params.image }}"
  interval: 1m
  insecure: {{ params.insecure | tojson }}
  secretRef:
    name: ghcr-credentials
"""

IMAGE_POLICY = {
    "apiVersion": "image.toolkit.fluxcd.io/v1beta2",
    "kind": "ImagePolicy",
    "metadata": {"name": "ml-training", "namespace": "flux-system"},
    "spec": {"imageRepositoryRef": {"name": "ml-training"}, "policy": {"semver": {"range": "1.x.x"}}},
}

IMAGE_UPDATE_AUTOMATION = """
apiVersion: image.toolkit.fluxcd.io/v1beta1
kind: ImageUpdateAutomation
metadata:
  name: ml-training
  namespace: flux-system
spec:
  interval: 1m
  sourceRef:
    kind: GitRepository
    name: ml-gitops
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        email: fluxcdbot@company.com
        name: Flux CD Bot
      messageTemplate: |
        {% raw %}Update ML training image

        Automation name: {{ .AutomationObject }}

        Files:
        {{ range $filename, $_ := .Updated.Files -}}
        - {{ $filename }}
        {{ end -}}

        Images:
        {{ range .Updated.Images -}}
        - {{.}}
        {{ end -}}{% endraw %}
    push:
      branch: main
  update:
    path: ./apps/ml-training/overlays/production
    strategy: Setters
"""


@dag(
    dag_id="example_image_automation",
    schedule=None,
    catchup=False,
    tags=["flux", "example", "images"],
    doc_md=__doc__,
    params={
        "image": "ghcr.io/company/ml-training",
        "insecure": False,
        "git_url": "https://github.com/company/ml-gitops",
        "last_tag": "v1.0.0",
    },
)
def example_image_automation() -> None:
    watch = ImagePolicySensor(
        task_id="watch",
        repository=IMAGE_REPOSITORY,
        policy=IMAGE_POLICY,
        last_tag="{{ params.last_tag }}",
        poke_interval=60,
        timeout=24 * 3600,
    )
    scan = ImageRepositoryScanOperator(task_id="scan", manifest=IMAGE_REPOSITORY)
    policy = ImagePolicyOperator(task_id="policy", manifest=IMAGE_POLICY, tags=scan.output)
    update = ImageUpdateAutomationOperator(
        task_id="update",
        manifest=IMAGE_UPDATE_AUTOMATION,
        policies=[policy.output],
        url="{{ params.git_url }}",
        git_conn_id="ml-gitops",
    )
    watch >> scan >> policy >> update


example_image_automation()
