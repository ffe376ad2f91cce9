"""``validate``: check manifests as Flux would before they reach a DAG (or a cluster).

Reads files, folders or ``-`` (stdin) and lists each object; a bad object is reported with
its ``SpecError`` and the exit code is 1. ``--var NAME=VALUE`` fills the ``${VAR}``
placeholders of the manifests as a parent Kustomization (or the DAG factory's trigger
conf) would; a placeholder without a value stays as written, and an object whose only
problems are fields holding one is reported as not checked, naming the variables to pass,
instead of failing. ``--show`` prints the Flux objects as they were understood: current
field names, defaults filled in.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

import yaml


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("validate", help="check Flux/Flagger manifests (files, folders or -)")
    parser.add_argument("paths", nargs="+", help="YAML file, folder (searched recursively) or - for stdin")
    parser.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", help="fill ${NAME} placeholders"
    )
    parser.add_argument("--show", action="store_true", help="print the Flux objects with defaults filled in")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from airflow_flux_provider.cli.build import parse_vars
    from airflow_flux_provider.specs import KubernetesObject, SpecError
    from airflow_flux_provider.specs.manifests import manifest_documents
    from airflow_flux_provider.specs.registry import parse_manifest

    values = parse_vars(args.var)
    flux = other = unchecked = invalid = 0
    for path in args.paths:
        for doc in manifest_documents(sys.stdin.read() if path == "-" else path):
            data, unset = _filled(doc.data, values)
            try:
                obj = parse_manifest(data, source=doc.source, lines=doc.lines)
            except SpecError as err:
                if unset and all(problem.placeholder for problem in err.problems):
                    unchecked += 1
                    names = " ".join(f"--var {name}=..." for name in unset)
                    print(f"⚠ {err.obj or doc.source}: not checked, placeholders without a value ({names})")
                    continue
                invalid += 1
                print(f"✗ {err}", file=sys.stderr)
                continue
            if isinstance(obj, KubernetesObject):
                other += 1
                continue
            flux += 1
            print(f"✔ {obj.ref} ({obj.api_version})")
            if args.show:
                print(yaml.safe_dump(obj.to_manifest(), sort_keys=False).rstrip())
                print("---")
    counts = [f"{flux} Flux object(s) valid", f"{other} other object(s) passed through"]
    counts += [f"{unchecked} not checked"] * bool(unchecked) + [f"{invalid} invalid"] * bool(invalid)
    print(", ".join(counts))
    return 1 if invalid else 0


def _filled(data: Any, values: dict[str, str]) -> tuple[Any, list[str]]:
    """``data`` with its placeholders filled from ``values`` (or their defaults), and the names of
    those left as written because neither gives a value."""
    from airflow_flux_provider.errors import object_ref
    from airflow_flux_provider.kustomize import envsubst, fill_placeholders
    from airflow_flux_provider.kustomize.errors import EnvsubstError
    from airflow_flux_provider.specs.base import mapping

    unset: list[str] = []

    def scan(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                scan(item)
        elif isinstance(value, list):
            for item in value:
                scan(item)
        elif isinstance(value, str) and "$" in value:
            with contextlib.suppress(EnvsubstError):  # fill_placeholders names the bad expression
                unset.extend(n for n in envsubst.substitute(value, values, strict=True)[1] if n not in unset)

    if not isinstance(data, dict):
        return data, []
    scan(data)
    meta = mapping(data.get("metadata"))
    ref = object_ref(str(data.get("kind")), str(meta.get("name")), meta.get("namespace"))
    kept = {name: f"${{{name}}}" for name in unset}  # inserted as written: the placeholder stays
    return fill_placeholders(data, {**values, **kept}, obj=ref, source="--var"), unset
