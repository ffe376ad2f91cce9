"""``install``: the Flux and Flagger CRDs in a cluster, as ``flux install`` puts Flux's.

    python -m airflow_flux_provider install [--kubeconfig K] [--context C] [--export]

Applies the CustomResourceDefinitions generated from the typed models (every kind and
apiVersion this provider reads, with the status subresource and Flux's printer columns)
and prints one line per definition (``--output json``: one document, see
:mod:`~airflow_flux_provider.cli.progress`); a second run changes nothing. ``--export`` prints
them as YAML instead (for a GitOps repository or ``kubectl apply -f -``).
"""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from airflow_flux_provider.cli.progress import Progress, add_output_flag


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("install", help="install the Flux and Flagger CRDs (flux install)")
    parser.add_argument("--kubeconfig", help="kubeconfig of the target cluster (default: KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--export", action="store_true", help="print the CRDs as YAML, touch no cluster")
    add_output_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from airflow_flux_provider.kube import Cluster
    from airflow_flux_provider.kube.objects import install_crds
    from airflow_flux_provider.specs.crds import flux_crds

    if args.export:
        print(yaml.safe_dump_all(flux_crds(), sort_keys=False), end="")
        return 0
    progress = Progress.of(args)
    with progress.step("install", "the Flux and Flagger CRDs"):
        changes = install_crds(Cluster.from_kubeconfig(args.kubeconfig, context=args.context))
    for change in changes.changes:
        progress.ready(str(change.key), str(change.action), line="►")
    progress.conclude(f"{len(changes.changes)} CustomResourceDefinitions installed")
    return progress.finish()
