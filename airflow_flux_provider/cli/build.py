"""``build``: render a Kustomization from a local folder, as ``flux build kustomization --path``.

The spec comes from ``-f`` (a file holding the Flux Kustomization; ``--name`` picks one
when it holds several), the source from ``--path`` (the folder standing for the artifact
root: ``spec.path`` is resolved inside it). ``--var NAME=VALUE`` values take the place of
DAG params / trigger conf. substituteFrom needs a cluster, so it is refused here unless
every reference is optional. Substitution is strict, as the controller is; ``--no-strict``
turns unset variables into empty strings like ``flux build`` does by default.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from airflow_flux_provider.errors import FluxError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("build", help="render a Kustomization from a local folder (flux build ks)")
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
    parser.set_defaults(func=run)


def parse_vars(pairs: list[str]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise FluxError(f"--var {pair!r} must look like NAME=VALUE", field="--var")
        variables[name] = value
    return variables


def run(args: argparse.Namespace) -> int:
    from airflow_flux_provider.kustomize import RenderStore, airflow_values, render
    from airflow_flux_provider.kustomize.errors import KustomizeError
    from airflow_flux_provider.specs import Kustomization, load_manifests

    variables = parse_vars(args.var)
    candidates = [
        obj
        for obj in load_manifests(args.file)
        if isinstance(obj, Kustomization) and (args.name is None or obj.metadata.name == args.name)
    ]
    if len(candidates) != 1:
        which = f" named {args.name!r}" if args.name else ""
        raise KustomizeError(
            f"{args.file} holds {len(candidates)} Flux Kustomization(s){which}; "
            "give a file with one, or --name",
            field="-f",
        )
    ks = candidates[0]
    with tempfile.TemporaryDirectory(prefix="flux-build-") as scratch:
        rendered = render(
            ks,
            args.path,
            store=RenderStore(args.store or scratch),
            airflow_vars=airflow_values(variables),
            strict=not args.no_strict,
            allow_remote_bases=args.allow_remote_bases,
        )
        sys.stdout.write(rendered.read())
    return 0
