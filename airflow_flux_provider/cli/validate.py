"""``validate``: check manifests as Flux would before they reach a DAG (or a cluster).

Reads files, folders or ``-`` (stdin) with :func:`~airflow_flux_provider.specs.load_manifests`
and lists each object; the first bad object stops the run with its ``SpecError``.
``--show`` prints the Flux objects as they were understood: current field names,
defaults filled in.
"""

from __future__ import annotations

import argparse
import sys

import yaml


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("validate", help="check Flux/Flagger manifests (files, folders or -)")
    parser.add_argument("paths", nargs="+", help="YAML file, folder (searched recursively) or - for stdin")
    parser.add_argument("--show", action="store_true", help="print the Flux objects with defaults filled in")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from airflow_flux_provider.specs import KubernetesObject, load_manifests

    flux = other = 0
    for path in args.paths:
        objects = load_manifests(sys.stdin.read() if path == "-" else path)
        for obj in objects:
            if isinstance(obj, KubernetesObject):
                other += 1
                continue
            flux += 1
            print(f"✔ {obj.ref} ({obj.api_version})")
            if args.show:
                print(yaml.safe_dump(obj.to_manifest(), sort_keys=False).rstrip())
                print("---")
    print(f"{flux} Flux object(s) valid, {other} other object(s) passed through")
    return 0
