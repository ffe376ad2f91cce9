"""``build`` / ``diff``: a Kustomization from a local folder, as ``flux build|diff kustomization --path``.

The spec comes from ``-f`` (a file holding the Flux Kustomization, flux's
``--kustomization-file``; ``--name`` picks one when it holds several). ``--path`` is the
folder to build, as in ``flux build ks --path ./apps/…/overlays/production``: it takes
the place of ``spec.path``. ``--source-root`` is the folder the source artifact stands for
(references such as ``../../base`` must stay inside it, as in the controller); it defaults
to the current directory when that holds ``--path`` (run from the repository root), else
to ``--path`` itself. ``--var NAME=VALUE`` values take the place of
DAG params / trigger conf: they fill the ``${VAR}`` placeholders of the Kustomization itself
(the parent level, as the DAG factory does) and are build variables under the spec's own
``postBuild.substitute``. substituteFrom needs a cluster, so it is refused here unless
every reference is optional. Substitution is strict, as the controller is; ``--no-strict``
turns unset variables into empty strings like ``flux build`` does by default.

The output is ``flux build``'s: objects in kustomize's input order with the owner labels
``kustomize.toolkit.fluxcd.io/name|namespace``, SOPS-encrypted Secret values masked as
``**SOPS**`` (nothing is decrypted), each object as Go's ``sigs.k8s.io/yaml`` prints it and
followed by ``---``. ``.sourceignore`` files under the built folder and ``--ignore-paths``
(comma-separated gitignore patterns) leave files and kustomization entries out, after the
default exclusions. ``--recursive`` also builds the Flux Kustomizations found in the output,
each from its source's folder (``--local-sources Kind/namespace/name=folder,...``; the
top Kustomization's own source is ``--source-root``).

``diff`` renders the same way, then compares with the cluster of ``--kubeconfig`` by
server-side dry-run and prints one ``► Kind/ns/name created|configured|unchanged|deleted``
line per object; it exits 0 without differences and 1 with some (as ``flux diff``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from airflow_flux_provider.errors import FluxError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    build = subparsers.add_parser("build", help="render a Kustomization from a local folder (flux build ks)")
    _arguments(build)
    build.add_argument(
        "--ignore-paths", action="append", default=[], help="comma-separated gitignore patterns to leave out"
    )
    build.add_argument("-r", "--recursive", action="store_true", help="also build nested Kustomizations")
    build.add_argument(
        "--local-sources",
        action="append",
        default=[],
        metavar="KIND/NAMESPACE/NAME=FOLDER",
        help="local folders of the sources nested Kustomizations use (comma-separated)",
    )
    build.set_defaults(func=run)
    diff = subparsers.add_parser("diff", help="compare a local render with a live cluster (flux diff ks)")
    _arguments(diff)
    diff.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster to compare with")
    diff.set_defaults(func=run_diff)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--file", required=True, help="YAML file with the Flux Kustomization")
    parser.add_argument("--path", required=True, help="local folder to build (replaces spec.path), as flux's")
    parser.add_argument(
        "--source-root",
        help="folder the source artifact stands for (default: the current directory if it holds --path)",
    )
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


def load_kustomization(
    file: str, name: str | None, variables: dict[str, str], *, strict: bool, path: str | None = None
) -> Any:
    """The Flux Kustomization of ``file`` (``name`` picks one), its placeholders filled from ``variables``,
    and built from ``path`` (relative to the source root) when given instead of its ``spec.path``."""
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
    if path is not None:
        filled["spec"] = {**(filled.get("spec") or {}), "path": path}
    return parse_object(filled, source=file)


def _render(
    args: argparse.Namespace, scratch: str, reader: Any = None, *, flux_build: bool = False
) -> tuple[Any, str, str]:
    """The Kustomization of ``-f``, its render's YAML and the source root it was built in."""
    root, path = source_folders(args.path, args.source_root)
    ks = load_kustomization(args.file, args.name, parse_vars(args.var), strict=not args.no_strict, path=path)
    return ks, _build(ks, root, args, scratch, reader, flux_build=flux_build), root


def source_folders(path: str, source_root: str | None) -> tuple[str, str]:
    """The source root and ``path`` inside it (as ``spec.path`` is written: ``./apps/…``)."""
    folder = Path(path).resolve()
    if source_root is None:
        cwd = Path.cwd().resolve()
        root = cwd if folder.is_relative_to(cwd) else folder
    else:
        root = Path(source_root).resolve()
    if not folder.is_relative_to(root):
        raise FluxError(
            f"--path {path} is not inside the source root {root}; pass --source-root, the folder the "
            "Kustomization's source stands for (the repository root)",
            field="--path",
        )
    inside = folder.relative_to(root).as_posix()
    return str(root), "./" if inside == "." else f"./{inside}"


def _build(
    ks: Any, root: str, args: argparse.Namespace, scratch: str, reader: Any, *, flux_build: bool
) -> str:
    from airflow_flux_provider.kustomize import RenderStore, airflow_values, render

    rendered = render(
        ks,
        root,
        store=RenderStore(args.store or scratch),
        reader=reader,
        airflow_vars=airflow_values(parse_vars(args.var)),
        strict=not args.no_strict,
        allow_remote_bases=args.allow_remote_bases,
        keep_encrypted=True,
        ignore=_patterns(args.ignore_paths) if flux_build else None,
    )
    return rendered.read()


def _patterns(values: list[str]) -> list[str]:
    return [item for value in values for item in value.split(",") if item]


def local_sources(values: list[str]) -> dict[str, str]:
    """``--local-sources``: ``Kind/namespace/name`` -> folder."""
    sources: dict[str, str] = {}
    for pair in _patterns(values):
        key, sep, folder = pair.partition("=")
        if not sep or key.count("/") != 2 or not folder:
            raise FluxError(
                f"--local-sources {pair!r} must look like Kind/namespace/name=./folder",
                field="--local-sources",
            )
        sources[key] = folder
    return sources


def run(args: argparse.Namespace) -> int:
    from airflow_flux_provider.kustomize.build_output import flux_build_output

    with tempfile.TemporaryDirectory(prefix="flux-build-") as scratch:
        ks, text, root = _render(args, scratch, flux_build=True)
        sources = {_source_key(ks): root, **local_sources(args.local_sources)}
        objects = _flux_objects(ks, text, args, scratch, sources, seen={ks.ref})
    sys.stdout.write(flux_build_output(objects))
    return 0


def _source_key(ks: Any) -> str:
    ref = ks.spec.source_ref
    return f"{ref.kind}/{ref.namespace or ks.metadata.namespace or 'default'}/{ref.name}"


def _flux_objects(
    ks: Any, text: str, args: argparse.Namespace, scratch: str, sources: dict[str, str], seen: set[str]
) -> list[dict[str, Any]]:
    """The render as ``flux build`` prints it; with ``--recursive`` nested Kustomizations follow."""
    from airflow_flux_provider.kustomize.build_output import load_objects, mask_sops, with_owner
    from airflow_flux_provider.specs import Kustomization, parse_object

    namespace = ks.metadata.namespace or "default"
    objects = [mask_sops(with_owner(obj, ks.metadata.name, namespace)) for obj in load_objects(text)]
    if not args.recursive:
        return objects
    nested: list[dict[str, Any]] = []
    for obj in objects:
        if obj.get("kind") != "Kustomization" or not str(obj.get("apiVersion", "")).startswith(
            "kustomize.toolkit.fluxcd.io/"
        ):
            continue
        child = parse_object(obj)
        if not isinstance(child, Kustomization) or child.ref in seen:
            continue  # itself, or one already built on this path (a cycle in hostile input)
        key = _source_key(child)
        if key not in sources:
            raise FluxError(
                f"cannot get local path for {key} of kustomization {child.metadata.name}; "
                f"pass --local-sources {key}=./folder",
                obj=child.ref,
            )
        child_text = _build(child, sources[key], args, scratch, None, flux_build=True)
        nested += _flux_objects(child, child_text, args, scratch, sources, seen | {child.ref})
    return objects + nested


def run_diff(args: argparse.Namespace) -> int:
    from airflow_flux_provider.kube import Cluster
    from airflow_flux_provider.kustomize import ClusterReader
    from airflow_flux_provider.kustomize.diff import diff

    cluster = Cluster.from_kubeconfig(args.kubeconfig)
    with tempfile.TemporaryDirectory(prefix="flux-diff-") as scratch:
        ks, text, _root = _render(args, scratch, ClusterReader(cluster))
        report = diff(ks, text, cluster)
    for line in report.lines():
        print(line)
    for error in report.errors:
        print(f"✗ {error}", file=sys.stderr)
    if report.errors:
        return 2
    return 1 if report.has_changes else 0
