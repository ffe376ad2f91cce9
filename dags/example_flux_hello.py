"""Hello, Flux: validate a GitRepository manifest and report what it would fetch.

The smallest DAG that uses the provider. Heavy imports (the typed specs, pydantic)
happen inside the task, so parsing this file stays as cheap as parsing an empty DAG.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

import airflow_flux_provider

GIT_REPOSITORY = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 1m
  url: https://github.com/stefanprodan/podinfo
  ref:
    branch: master
"""


@dag(
    dag_id="example_flux_hello",
    schedule=None,
    catchup=False,
    tags=["flux", "example"],
    doc_md=__doc__,
    params={"provider_version": airflow_flux_provider.__version__},
)
def example_flux_hello() -> None:
    @task
    def describe_source(manifest: str) -> dict[str, Any]:
        from airflow_flux_provider.specs import load_manifests

        (source,) = load_manifests(manifest)
        return {"object": str(source.ref), "url": str(source.spec.url)}

    @task
    def announce(source: dict[str, Any]) -> str:
        message = f"{source['object']} would fetch {source['url']}"
        print(message)
        return message

    announce(describe_source(GIT_REPOSITORY))  # type: ignore[arg-type]  # an XComArg until run time


example_flux_hello()
