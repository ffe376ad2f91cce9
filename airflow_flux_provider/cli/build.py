"""``build`` / ``diff``: a Kustomization from a local folder, as ``flux build|diff kustomization --path``.

The spec comes from ``-f`` (a file holding the Flux Kustomization; ``--name`` picks one
when it holds several), the source from ``--path`` (the folder standing for the artifact
root: ``spec.path`` is resolved inside it). ``--var NAME=VALUE`` values take the place of
DAG params / trigger conf: they fill the ``${VAR}`` placeholders of the Kustomization itself
(the parent level, as the DAG factory does) and are build variables under the spec's own
``postBuild.substitute``. substituteFrom needs a cluster, so it is refused here unless
every reference is optional. Substitution is strict, as the controller is; ``--no-strict``
turns unset variables into empty strings like ``flux build`` does by default.

``diff`` renders the same way, then compares with the cluster of ``--kubeconfig`` by
server-side dry-run and prints one ``► Kind/ns/name created|configured|unchanged|deleted``
line per object; it exits 0 without differences and 1 with some (as ``flux diff``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from typing import Any

from airflow_flux_provider.errors import FluxError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    build = subparsers.add_parser("build", help="render a Kustomization from a local folder (flux build ks)")
    _arguments(build)
    build.set_defaults(func=run)
    diff = subparsers.add_parser("diff", help="compare a local render with a live cluster (flux diff ks)")
    _arguments(diff)
    diff.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster to compare with")
    diff.set_defaults(func=run_diff)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--file", required=True, help="YAML file with the Flux Kustomization")
    parser.add_argument("--path", required=True, help="local folder standing for the source artifact root")
    parser.add_argument("--name", help="which Kustomization of the file (when it holds several)")
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable, as from the trigger form",
    )
    parser.add_argument("--no-strict", action="store_true", help="unset variables become empty strings")
    parser.add_argument("--allow-remote-bases", action="store_true", help="let kustomize fetch remote bases")
    parser.add_argument("--store", help="folder keeping renders by digest (default: a temporary folder)")


def parse_vars(pairs: list[str]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise FluxError(f"--var {pair!r} must look like NAME=VALUE", field="--var")
        variables[name] = value
    return variables


def load_kustomization(file: str, name: str | None, variables: dict[str, str], *, strict: bool) -> Any:
    """The Flux Kustomization of ``file`` (``name`` picks one), its placeholders filled from ``variables``."""
    import yaml

    from airflow_flux_provider.kustomize import fill_placeholders
    from airflow_flux_provider.kustomize.errors import KustomizeError
    from airflow_flux_provider.specs import parse_object

    try:
        with open(file, encoding="utf-8") as handle:
            documents = list(yaml.safe_load_all(handle))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise KustomizeError(f"cannot read {file}: {err}", field="-f") from None
    candidates = [
        doc
        for doc in documents
        if isinstance(doc, dict)
        and doc.get("kind") == "Kustomization"
        and str(doc.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io/")
        and (name is None or (doc.get("metadata") or {}).get("name") == name)
    ]
    if len(candidates) != 1:
        which = f" named {name!r}" if name else ""
        raise KustomizeError(
            f"{file} holds {len(candidates)} Flux Kustomization(s){which}; give a file with one, or --name",
            field="-f",
        )
    meta = candidates[0].get("metadata") or {}
    ref = f"Kustomization/{meta.get('namespace') or 'default'}/{meta.get('name')}"
    filled = fill_placeholders(candidates[0], variables, obj=ref, source="--var", strict=strict)
    return parse_object(filled, source=file)


def _render(args: argparse.Namespace, scratch: str, reader: Any = None) -> tuple[Any, str]:
    """The Kustomization of ``-f`` and its render's YAML."""
    from airflow_flux_provider.kustomize import RenderStore, airflow_values, render

    variables = parse_vars(args.var)
    ks = load_kustomization(args.file, args.name, variables, strict=not args.no_strict)
    rendered = render(
        ks,
        args.path,
        store=RenderStore(args.store or scratch),
        reader=reader,
        airflow_vars=airflow_values(variables),
        strict=not args.no_strict,
        allow_remote_bases=args.allow_remote_bases,
        keep_encrypted=True,
    )
    return ks, rendered.read()


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="flux-build-") as scratch:
        sys.stdout.write(_render(args, scratch)[1])
    return 0


def run_diff(args: argparse.Namespace) -> int:
    from airflow_flux_provider.kube import Cluster
    from airflow_flux_provider.kustomize import ClusterReader
    from airflow_flux_provider.kustomize.diff import diff

    cluster = Cluster.from_kubeconfig(args.kubeconfig)
    with tempfile.TemporaryDirectory(prefix="flux-diff-") as scratch:
        ks, text = _render(args, scratch, ClusterReader(cluster))
        report = diff(ks, text, cluster)
    for line in report.lines():
        print(line)
    return 1 if report.has_changes else 0
