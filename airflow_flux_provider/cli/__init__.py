"""Command-line entry: one module per command in this package, each with ``register(subparsers)``
(a module without it, like :mod:`~airflow_flux_provider.cli.progress`, is shared by the commands).

A command module adds its parser and sets ``func`` to a callable taking the parsed
arguments and returning the exit code. A :class:`FluxError` becomes a one-line message on
stderr and exit code 1, as ``flux`` prints its errors.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from airflow_flux_provider.errors import FluxError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m airflow_flux_provider")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        module = importlib.import_module(f"{__name__}.{name}")
        if hasattr(module, "register"):
            module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FluxError as err:
        print(f"✗ {err}", file=sys.stderr)
        return 1
