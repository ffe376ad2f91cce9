"""Run a set of image automation objects together, as the three Flux controllers would.

Every ImageRepository is scanned, every ImagePolicy chooses from its repository's scan,
and every ImageUpdateAutomation applies the policies of its namespace that match its
``policySelector`` to the GitRepository it names. A failing object is reported and the
others carry on, as independent controllers do. Used by the CLI and by anything that
loads a folder of manifests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_flux_provider.credentials import ANONYMOUS, Credentials
from airflow_flux_provider.images.commit import Automation, CommitResult, update_and_push
from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.policy import PolicyResult, TagPolicy, policy_key
from airflow_flux_provider.images.registry import ScanResult, scan_repository
from airflow_flux_provider.specs.images import ImagePolicy, ImageRepository, ImageUpdateAutomation
from airflow_flux_provider.specs.refs import LabelSelector

#: For an automation: the GitRepository URL and credentials to push with, or None to skip it.
GitSource = Callable[[ImageUpdateAutomation], tuple[str, Credentials] | None]


@dataclass
class ImageRun:
    """What one pass did, keyed by object ``Kind/namespace/name`` (policies by ``ns:name``)."""

    scans: dict[str, ScanResult] = field(default_factory=dict)
    choices: dict[str, PolicyResult] = field(default_factory=dict)
    commits: dict[str, CommitResult] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def selector_matches(selector: LabelSelector | None, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics (``matchLabels`` and ``matchExpressions``)."""
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for expr in selector.match_expressions:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        present = key in labels
        matched = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(op)
        if not matched:
            return False
    return True


def policies_for(automation: ImageUpdateAutomation, policies: Iterable[ImagePolicy]) -> list[ImagePolicy]:
    """The policies an automation applies: its namespace, matching ``policySelector``."""
    namespace = automation.metadata.namespace
    return [
        p
        for p in policies
        if p.metadata.namespace == namespace
        and selector_matches(automation.spec.policy_selector, p.metadata.labels)
    ]


def run_image_objects(
    objects: Iterable[Any],
    *,
    registry_credentials: Callable[[ImageRepository], Credentials] = lambda _: ANONYMOUS,
    git_source: GitSource | None = None,
) -> ImageRun:
    """Scan, choose and (when ``git_source`` gives a repository) commit; see the module doc."""
    items = list(objects)
    run = ImageRun()
    repositories = {
        (o.metadata.namespace, o.metadata.name): o
        for o in items
        if isinstance(o, ImageRepository) and not o.spec.suspend
    }
    for repository in repositories.values():
        try:
            run.scans[repository.ref] = scan_repository(repository, registry_credentials(repository))
        except ImageError as err:
            run.failures[repository.ref] = str(err)
    for policy in (o for o in items if isinstance(o, ImagePolicy) and not o.spec.suspend):
        ref = policy.spec.image_repository_ref
        target = repositories.get((ref.namespace or policy.metadata.namespace, ref.name))
        scanned = run.scans.get(target.ref) if target else None
        if target is None or scanned is None:
            why = "is not in this set" if target is None else "could not be scanned"
            run.failures[policy.ref] = f"{policy.ref}: its ImageRepository {ref.name!r} {why}"
            continue
        try:
            tag = TagPolicy.from_object(policy).latest(scanned.tags)
        except ImageError as err:
            run.failures[policy.ref] = str(err)
            continue
        run.choices[policy_key(policy)] = PolicyResult(target.spec.image, tag)
    policies = [o for o in items if isinstance(o, ImagePolicy)]
    for automation in (o for o in items if isinstance(o, ImageUpdateAutomation) and not o.spec.suspend):
        source = git_source(automation) if git_source else None
        if source is None:
            continue
        url, credentials = source
        chosen = {
            policy_key(p): run.choices[policy_key(p)]
            for p in policies_for(automation, policies)
            if policy_key(p) in run.choices
        }
        try:
            plan = Automation.from_object(
                automation,
                url,
                signing_key=credentials.extra.get("signing_key"),
                signing_passphrase=credentials.extra.get("signing_passphrase"),
            )
            run.commits[automation.ref] = update_and_push(plan, chosen, credentials=credentials)
        except ImageError as err:
            run.failures[automation.ref] = str(err)
    return run
