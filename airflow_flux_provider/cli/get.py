"""``get``: the table ``flux get`` prints, read from the Flux objects in the cluster.

    python -m airflow_flux_provider get {sources,kustomizations,helmreleases,images,canaries}
        [-A | -n NAMESPACE] [--kubeconfig K] [--context C]

Columns NAME, REVISION, SUSPENDED, READY, MESSAGE (NAMESPACE first with ``-A``), as flux
prints them: hex digests of 40 to 128 characters cut to 8, a group of several kinds
(sources, images) names each row ``<kind>/<name>``. REVISION is what the object last
reconciled: a source's artifact, a Kustomization's ``lastAppliedRevision``, a HelmRelease's
chart version, an ImagePolicy's latest image, an ImageRepository's scan, an
ImageUpdateAutomation's last pushed commit, a Canary's phase and weight.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from typing import Any

from airflow_flux_provider.kube import overview
from airflow_flux_provider.kube.overview import ready_condition, revision
from airflow_flux_provider.kube.record import flux_api_version

#: flux get's subcommands: the view's groups, lower-cased
GROUPS = {group.lower(): kinds for group, kinds in overview.GROUPS.items()}
_HEX = re.compile(r"[0-9a-f]{40,128}")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("get", help="print the status of Flux objects (flux get)")
    parser.add_argument("what", choices=sorted(GROUPS), help="which objects")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    where.add_argument("-n", "--namespace", default="flux-system", help="namespace (default: flux-system)")
    parser.add_argument("--kubeconfig", help="kubeconfig of the target cluster (default: KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class Row:
    namespace: str
    name: str
    revision: str
    suspended: bool
    ready: str
    message: str


def row_of(obj: dict[str, Any], *, qualified: bool) -> Row:
    """One object's row; ``qualified`` names it ``<kind>/<name>``."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    kind = str(obj.get("kind"))
    condition = ready_condition(kind, status)
    name = f"{kind.lower()}/{meta.get('name')}" if qualified else str(meta.get("name"))
    return Row(
        namespace=str(meta.get("namespace") or ""),
        name=name,
        revision=_short(revision(kind, status)),
        suspended=bool((obj.get("spec") or {}).get("suspend")),
        ready=str(condition.get("status") or "Unknown"),
        message=_short(str(condition.get("message") or "")),
    )


def _short(text: str) -> str:
    """flux get's habit: a digest or commit hash of 40 to 128 hex digits shows its first 8."""
    return _HEX.sub(lambda m: m.group(0)[:8], text)


def table(rows: list[Row], *, all_namespaces: bool) -> str:
    header = ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    cells = [[r.name, r.revision, str(r.suspended), r.ready, r.message] for r in rows]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
        for row, line in zip(rows, cells, strict=True):
            line.insert(0, row.namespace)
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *cells]
    )


def run(args: argparse.Namespace) -> int:
    from airflow_flux_provider.kube import Cluster, UnknownKindError

    cluster = Cluster.from_kubeconfig(args.kubeconfig, context=args.context)
    namespace = "" if args.all_namespaces else args.namespace
    kinds = GROUPS[args.what]
    rows: list[Row] = []
    for kind in kinds:
        try:
            found = cluster.list(flux_api_version(kind), kind, namespace=namespace)
        except UnknownKindError:
            print(f"✗ the cluster does not serve {kind}; install the CRDs with "
                  "'python -m airflow_flux_provider install'", file=sys.stderr)  # fmt: skip
            continue
        ordered = sorted(found, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        rows += [row_of(obj, qualified=len(kinds) > 1) for obj in ordered]
    if not rows:
        where = "any namespace" if args.all_namespaces else f"{args.namespace} namespace"
        print(f"✗ no {args.what} found in {where}", file=sys.stderr)
        return 0
    print(table(rows, all_namespaces=args.all_namespaces))
    return 0
