"""``image-automation``: run a folder's ImageRepository/ImagePolicy/ImageUpdateAutomation objects.

Scans every repository and prints what each policy chooses; with ``--push`` also runs the
automations against the GitRepository (from the same folder) their ``sourceRef`` names.
Credentials come from the environment, never the command line: ``FLUX_REGISTRY_USERNAME``/
``FLUX_REGISTRY_PASSWORD`` and ``FLUX_GIT_USERNAME``/``FLUX_GIT_PASSWORD``.
"""

from __future__ import annotations

import argparse
import os

from airflow_flux_provider.credentials import ANONYMOUS, Credentials


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "image-automation", help="scan, choose and (with --push) update image tags"
    )
    parser.add_argument("path", help="YAML file or folder with the image automation objects")
    parser.add_argument("--push", action="store_true", help="also commit and push the ImageUpdateAutomations")
    parser.set_defaults(func=run)


def _env_credentials(prefix: str) -> Credentials:
    user, password = os.environ.get(f"{prefix}_USERNAME"), os.environ.get(f"{prefix}_PASSWORD")
    return Credentials(username=user, password=password) if user or password else ANONYMOUS


def run(args: argparse.Namespace) -> int:
    from airflow_flux_provider.images.automation import run_image_objects
    from airflow_flux_provider.specs import load_manifests
    from airflow_flux_provider.specs.images import ImageUpdateAutomation
    from airflow_flux_provider.specs.sources import GitRepository

    objects = load_manifests(args.path)
    sources = {(o.metadata.namespace, o.metadata.name): o for o in objects if isinstance(o, GitRepository)}
    registry, git = _env_credentials("FLUX_REGISTRY"), _env_credentials("FLUX_GIT")

    def git_source(automation: ImageUpdateAutomation) -> tuple[str, Credentials] | None:
        ref = automation.spec.source_ref
        source = sources.get((ref.namespace or automation.metadata.namespace, ref.name))
        return (str(source.spec.url), git) if source is not None else None

    result = run_image_objects(
        objects, registry_credentials=lambda _: registry, git_source=git_source if args.push else None
    )
    for ref, scan in result.scans.items():
        print(f"✔ {ref}: {len(scan.tags)} tags")
    for key, choice in result.choices.items():
        print(f"✔ ImagePolicy {key} chooses {choice.ref}")
    for ref, done in result.commits.items():
        outcome = f"pushed {done.revision} to {done.branch}" if done.revision else "nothing to commit"
        print(f"✔ {ref}: {outcome}")
    if args.push:
        for automation in (o for o in objects if isinstance(o, ImageUpdateAutomation)):
            if automation.ref not in result.commits and automation.ref not in result.failures:
                print(f"- {automation.ref}: skipped, its GitRepository is not in {args.path}")
    for ref, message in result.failures.items():
        print(f"✗ {message if message.startswith(ref) else f'{ref}: {message}'}")
    return 1 if result.failures else 0
