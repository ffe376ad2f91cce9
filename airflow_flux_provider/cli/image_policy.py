"""``image-policy``: which tag would an ImagePolicy choose from this list? (local debugging)

Reads the ImagePolicy from a manifest (the first one in the file, or ``--name``; the file's
other objects are not read) and the
tags from a file, one per line (``-`` for stdin), and prints the chosen tag — or, with
``--image``, the full reference a setter would write.
"""

from __future__ import annotations

import argparse
import sys

from airflow_flux_provider.errors import FluxError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "image-policy", help="print the tag an ImagePolicy chooses from a tag list"
    )
    parser.add_argument("-f", "--file", required=True, help="YAML file holding the ImagePolicy")
    parser.add_argument("--tags", required=True, help="file with one tag per line, or - for stdin")
    parser.add_argument("--name", help="the ImagePolicy's metadata.name when the file holds several")
    parser.add_argument("--image", help="print IMAGE:TAG instead of the tag alone")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from airflow_flux_provider.images.policy import PolicyResult, TagPolicy
    from airflow_flux_provider.specs.images import ImagePolicy
    from airflow_flux_provider.specs.manifests import manifest_documents
    from airflow_flux_provider.specs.registry import parse_manifest

    # only the policies are read: the file's other objects may hold placeholders (${REGISTRY_HOST})
    documents = [
        d
        for d in manifest_documents(args.file)
        if isinstance(d.data, dict) and d.data.get("kind") == "ImagePolicy"
    ]
    parsed = [parse_manifest(d.data, source=d.source, lines=d.lines) for d in documents]
    policies = [p for p in parsed if isinstance(p, ImagePolicy)]
    if args.name:
        policies = [p for p in policies if p.metadata.name == args.name]
    if not policies:
        which = f" named {args.name!r}" if args.name else ""
        raise FluxError(f"{args.file} holds no ImagePolicy{which}; pass the file of the policy (and --name)")
    try:
        text = sys.stdin.read() if args.tags == "-" else open(args.tags, encoding="utf-8").read()  # noqa: SIM115
    except OSError as err:
        raise FluxError(
            f"cannot read tags from {args.tags}: {err.strerror}; pass a file, one tag per line"
        ) from None
    tags = [line.strip() for line in text.splitlines() if line.strip()]
    tag = TagPolicy.from_object(policies[0]).latest(tags)
    print(PolicyResult(args.image, tag).ref if args.image else tag)
    return 0
