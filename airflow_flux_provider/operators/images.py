"""Image automation as three tasks: scan (ImageRepository), policy (ImagePolicy), update-commit.

They chain through small XComs: the scan stores the tag list in the artifact store (named
by its digest, where a policy task on another worker reads it) and returns its URL; the
policy returns the chosen tag and image reference; the update task takes the policy results
and returns the pushed revision. Credentials come
from Airflow connections (``secretRef`` names, or an explicit ``*_conn_id``). With
``kubernetes_conn_id`` each task skips while its object is suspended in that cluster and
writes its outcome to the object's ``.status`` (:mod:`airflow_flux_provider.images.status`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk import Context

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.images.status import ImageStatus
from airflow_flux_provider.operators.base import FluxObjectOperator

#: A task's XCom and how it changes its object's status.
Outcome = tuple[dict[str, Any], Callable[[ImageStatus], None]]


class _ImageOperator(FluxObjectOperator):
    """Suspend check, then :meth:`run`, recorded on the object's status."""

    def execute(self, context: Context) -> dict[str, Any]:
        obj = self.flux_object()
        cluster = self.status_cluster()
        self.skip_if_suspended(obj, cluster)
        return self.recorded(obj, cluster, ImageStatus, lambda: self.run(obj))

    def run(self, obj: Any) -> Outcome:
        raise NotImplementedError


API_VERSION = "image.toolkit.fluxcd.io/v1beta2"


class ImageRepositoryScanOperator(_ImageOperator):
    """Lists the repository's tags (minus ``exclusionList``) and stores them; returns where."""

    flux_kind = "ImageRepository"
    flux_api_version = API_VERSION
    template_fields: Sequence[str] = (*FluxObjectOperator.template_fields, "registry_conn_id")

    def __init__(self, *, registry_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registry_conn_id = registry_conn_id

    def run(self, repository: Any) -> Outcome:
        from airflow_flux_provider.hooks.connections import RegistryCredentialsHook, flux_credentials
        from airflow_flux_provider.images.registry import scan_repository
        from airflow_flux_provider.operators.sources import artifact_store

        secret = repository.spec.secret_ref
        credentials = flux_credentials(
            RegistryCredentialsHook, repository.ref, conn_id=self.registry_conn_id, secret_ref=secret
        )
        conn_id = self.registry_conn_id or (secret.name if secret else None)
        result = scan_repository(repository, credentials)
        stored = artifact_store().put_bytes(
            result.to_bytes(), source=repository.ref, revision=result.digest, suffix=".json", history=False
        )
        self.log.info("%s: %d tags (%s)", repository.ref, len(result.tags), result.digest)
        xcom = {
            "repository": repository.ref,
            "image": result.image,
            "canonical": result.canonical,
            "count": len(result.tags),
            "digest": result.digest,
            "url": stored.url,
            "insecure": repository.spec.insecure or credentials.insecure,
            "registry_conn_id": conn_id,
        }
        return xcom, lambda status: status.scanned(result)


def _scanned_tags(tags: Any, task: str) -> tuple[list[str], dict[str, Any]]:
    """Tags from a scan XCom (``{"url": ...}``) or a plain list."""
    from airflow_flux_provider.images.registry import ScanResult
    from airflow_flux_provider.operators.sources import artifact_store

    if isinstance(tags, dict) and tags.get("url"):
        url = str(tags["url"])
        return ScanResult.from_bytes(artifact_store(url.rpartition("/sha256/")[0]).get_url(url)).tags, tags
    if isinstance(tags, list | tuple) and all(isinstance(t, str) for t in tags):
        return list(tags), {}
    raise FluxError(
        "tags must be the XCom of an ImageRepositoryScanOperator task or a list of tag strings",
        obj=f"task '{task}'",
        field="tags",
    )


class ImagePolicyOperator(_ImageOperator):
    """Chooses the latest tag; returns ``{policy, tag, image, digest, ref}`` for the update task."""

    flux_kind = "ImagePolicy"
    flux_api_version = API_VERSION
    template_fields: Sequence[str] = (
        *FluxObjectOperator.template_fields,
        "tags",
        "image",
        "registry_conn_id",
    )

    def __init__(
        self, *, tags: Any, image: str | None = None, registry_conn_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.tags = tags
        self.image = image
        self.registry_conn_id = registry_conn_id

    def run(self, policy: Any) -> Outcome:
        from airflow_flux_provider.hooks.connections import RegistryCredentialsHook, flux_credentials
        from airflow_flux_provider.images.policy import PolicyResult, TagPolicy, policy_key
        from airflow_flux_provider.images.registry import tag_digest

        tags, scanned = _scanned_tags(self.tags, self.task_id)
        image = self.image or scanned.get("image")
        if not image:
            raise FluxError(
                "pass image= when tags is a plain list", obj=f"task '{self.task_id}'", field="image"
            )
        tag = TagPolicy.from_object(policy).latest(tags)
        digest = None
        if policy.spec.digest_reflection_policy != "Never":
            conn_id = self.registry_conn_id or scanned.get("registry_conn_id")
            credentials = flux_credentials(RegistryCredentialsHook, policy.ref, conn_id=conn_id)
            insecure = bool(scanned.get("insecure"))
            digest = tag_digest(image, tag, credentials=credentials, insecure=insecure, obj=policy.ref)
        self.log.info("%s chose %s:%s", policy.ref, image, tag)
        choice = PolicyResult(image, tag, digest)
        xcom = {"policy": policy_key(policy), "tag": tag, "image": image, "digest": digest, "ref": choice.ref}
        return xcom, lambda status: status.resolved(choice)


class ImageUpdateAutomationOperator(_ImageOperator):
    """Writes the policies' choices into the marked YAML of a Git repository and pushes.

    ``policies`` is a list of ImagePolicyOperator XComs; ``url`` is the GitRepository's URL
    and ``git_conn_id`` its credentials (extras ``signing_key``/``signing_passphrase``: the
    commit signing key, used when ``signingKey`` is set).
    Returns ``{revision, branch, files, changes, message}``; ``revision`` is None when no
    marked value changed (no commit is made).
    """

    flux_kind = "ImageUpdateAutomation"
    flux_api_version = "image.toolkit.fluxcd.io/v1"
    template_fields: Sequence[str] = (
        *FluxObjectOperator.template_fields,
        "policies",
        "url",
        "branch",
        "git_conn_id",
    )

    def __init__(
        self,
        *,
        policies: Any,
        url: str,
        branch: str = "main",
        git_conn_id: str | None = None,
        attempts: int = 3,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.policies = policies
        self.url = url
        self.branch = branch
        self.git_conn_id = git_conn_id
        self.attempts = attempts

    def run(self, automation_obj: Any) -> Outcome:
        from airflow_flux_provider.hooks.connections import GitCredentialsHook, flux_credentials
        from airflow_flux_provider.images.commit import Automation, update_and_push
        from airflow_flux_provider.images.policy import PolicyResult

        results = self.policies if isinstance(self.policies, list | tuple) else [self.policies]
        try:
            chosen = {r["policy"]: PolicyResult(r["image"], r["tag"], r.get("digest")) for r in results}
        except (TypeError, KeyError):
            raise FluxError(
                "policies must be ImagePolicyOperator XComs ({policy, image, tag, digest})",
                obj=automation_obj.ref,
                field="policies",
            ) from None
        credentials = flux_credentials(GitCredentialsHook, automation_obj.ref, conn_id=self.git_conn_id)
        automation = Automation.from_object(
            automation_obj,
            self.url,
            signing_key=credentials.extra.get("signing_key"),
            signing_passphrase=credentials.extra.get("signing_passphrase"),
            branch=self.branch,
        )
        done = update_and_push(automation, chosen, credentials=credentials, attempts=self.attempts)
        for file, line, setter in done.result.unknown_markers:
            self.log.warning(
                "%s:%d: marker names policy %s, which this run was not given", file, line, setter
            )
        if done.revision is None:
            self.log.info("%s: every marked value is already current; nothing committed", automation_obj.ref)
        xcom = {
            "revision": done.revision,
            "branch": done.branch,
            "files": done.result.files,
            "changes": [
                {"file": c.file, "setter": c.setter, "old": c.old, "new": c.new} for c in done.result.changes
            ],
            "message": done.message,
        }
        return xcom, lambda status: status.pushed(done.revision, done.branch)
