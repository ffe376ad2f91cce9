"""``install``: the Flux and Flagger CRDs in a cluster, as ``flux install`` puts Flux's.

    python -m airflow_flux_provider install [--kubeconfig K] [--context C] [--export]

Applies the CustomResourceDefinitions generated from the typed models (every kind and
apiVersion this provider reads, with the status subresource and Flux's printer columns)
and prints one line per definition; a second run changes nothing. ``--export`` prints
them as YAML instead (for a GitOps repository or ``kubectl apply -f -``).
"""

from __future__ import annotations

import argparse
from typing import Any

import yaml


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("install", help="install the Flux and Flagger CRDs (flux install)")
    parser.add_argument("--kubeconfig", help="kubeconfig of the target cluster (default: KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--export", action="store_true", help="print the CRDs as YAML, touch no cluster")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from airflow_flux_provider.kube import Cluster
    from airflow_flux_provider.kube.objects import install_crds
    from airflow_flux_provider.specs.crds import flux_crds

    if args.export:
        print(yaml.safe_dump_all(flux_crds(), sort_keys=False), end="")
        return 0
    changes = install_crds(Cluster.from_kubeconfig(args.kubeconfig, context=args.context))
    for change in changes.changes:
        print(f"► {change}")
    print(f"✔ {len(changes.changes)} CustomResourceDefinitions installed")
    return 0
