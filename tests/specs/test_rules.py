"""Rules beyond field types: each refusal names the field and says what to write instead."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from airflow_flux_provider.specs import GitRepository, OCIRepository, SpecError, load_manifests, parse_object

GROUPS = {
    "GitRepository": "source.toolkit.fluxcd.io/v1",
    "HelmRepository": "source.toolkit.fluxcd.io/v1",
    "Bucket": "source.toolkit.fluxcd.io/v1",
    "OCIRepository": "source.toolkit.fluxcd.io/v1",
    "Kustomization": "kustomize.toolkit.fluxcd.io/v1",
    "HelmRelease": "helm.toolkit.fluxcd.io/v2",
    "ImageRepository": "image.toolkit.fluxcd.io/v1",
    "ImagePolicy": "image.toolkit.fluxcd.io/v1",
    "Receiver": "notification.toolkit.fluxcd.io/v1",
    "Provider": "notification.toolkit.fluxcd.io/v1beta3",
    "HelmChart": "source.toolkit.fluxcd.io/v1",
    "Canary": "flagger.app/v1beta1",
}
GIT = {"url": "https://example.com/app.git", "interval": "1m"}
POLICY = {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}}
CANARY = {
    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "service": {"port": 80},
}


def _refusal(kind: str, spec: Any, metadata: dict[str, Any] | None = None) -> SpecError:
    data = {"apiVersion": GROUPS[kind], "kind": kind, "metadata": metadata or {"name": "x"}, "spec": spec}
    with pytest.raises(SpecError) as info:
        parse_object(data)
    assert len(info.value.problems) == 1, str(info.value)
    return info.value


@pytest.mark.parametrize(
    ("kind", "spec", "field", "message"),
    [
        ("GitRepository", {**GIT, "ref": {"name": "/refs/heads/main"}}, "spec.ref.name",
         "ref.name '/refs/heads/main' must be a full Git ref like refs/heads/main"),
        ("GitRepository", {**GIT, "include": [{"repositry": {"name": "lib"}}]}, "spec.include[0].repositry",
         "unknown field 'repositry': did you mean 'repository'? It is required; fix the spelling"),
        ("GitRepository", {**GIT, "verify": {"mod": "HEAD", "secretRef": {"name": "keys"}}},
         "spec.verify.mod",
         "unknown field 'mod' (did you mean 'mode'?)"),
        ("HelmRepository", {"url": "https://charts.example.com", "type": "oci"}, "spec",
         "url 'https://charts.example.com' must start with oci:// when type is oci"),
        ("HelmRepository", {"url": "oci://ghcr.io/org/charts"}, "spec",
         "must be an http(s) chart repository URL; for an OCI registry set type: oci"),
        ("Bucket", {"bucketName": "b", "endpoint": "https://s3.example.com", "interval": "5m"},
         "spec.endpoint",
         "endpoint 'https://s3.example.com' must be a host[:port] without scheme; set insecure: true"),
        ("OCIRepository", {"url": "ghcr.io/org/manifests", "interval": "5m"}, "spec.url",
         "url 'ghcr.io/org/manifests' must be an oci:// URL of a repository"),
        ("ImageRepository", {"image": "ghcr.io/org/app:1.0", "interval": "5m"}, "spec.image",
         "image 'ghcr.io/org/app:1.0' must be a repository without tag or digest"),
        ("ImageRepository", {"image": "https://ghcr.io/org/app", "interval": "5m"}, "spec.image",
         "must not have a scheme; write e.g. ghcr.io/org/app"),
        ("ImageRepository", {"image": "ghcr.io/org/app", "interval": "5m", "exclusionList": ["^(sig"]},
         "spec.exclusionList", "exclusionList '^(sig' is not a valid regular expression"),
        ("ImagePolicy", {**POLICY, "policy": {"semver": {"range": "1.x"}, "numerical": {}}}, "spec.policy",
         "set exactly one of semver, alphabetical or numerical (got semver, numerical)"),
        ("ImagePolicy", {**POLICY, "policy": {}}, "spec.policy",
         "set exactly one of semver, alphabetical or numerical (got none)"),
        ("ImagePolicy", {**POLICY, "filterTags": {"pattern": "^main-(?P<ts"}}, "spec.filterTags.pattern",
         "filterTags.pattern '^main-(?P<ts' is not a valid regular expression"),
        ("ImagePolicy", {**POLICY, "digestReflectionPolicy": "Always"}, "spec",
         "interval must be set when (and only when) digestReflectionPolicy is Always"),
        ("ImagePolicy", {**POLICY, "interval": "5m"}, "spec",
         "interval must be set when (and only when) digestReflectionPolicy is Always"),
        ("Receiver", {"type": "github", "resources": [{"kind": "GitRepository", "name": "app"}]}, "spec",
         "secretRef is required for type github"),
        ("Receiver", {"type": "generic-oidc", "resources": [{"kind": "Bucket", "name": "b"}]}, "spec",
         "a generic-oidc receiver takes oidcProviders (at least one) and no secretRef"),
        ("Receiver", {"type": "generic", "secretRef": {"name": "t"}, "oidcProviders": [{"issuer": "i"}],
                      "resources": [{"kind": "Bucket", "name": "b"}]}, "spec",
         "oidcProviders can only be set when type is generic-oidc"),
        ("GitRepository", {**GIT, "serviceAccountName": "sa"}, "spec",
         "serviceAccountName can only be set when provider is azure or aws"),
        ("Bucket", {"bucketName": "b", "endpoint": "s3:9000", "interval": "5m",
                    "sts": {"provider": "aws", "endpoint": "https://sts.example.com"}}, "spec",
         "sts is supported only with provider aws (sts.provider aws) or generic (sts.provider ldap)"),
        ("Bucket", {"bucketName": "b", "endpoint": "s3:9000", "interval": "5m", "provider": "aws",
                    "sts": {"provider": "aws", "endpoint": "https://sts.example.com",
                            "secretRef": {"name": "s"}}},
         "spec", "the aws STS provider takes no sts.secretRef or sts.certSecretRef"),
        ("Bucket", {"bucketName": "b", "endpoint": "s3:9000", "interval": "5m", "serviceAccountName": "sa"},
         "spec", "serviceAccountName needs provider aws, gcp or azure and no secretRef"),
        ("HelmRelease", {"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "w"},
                         "upgrade": {"strategy": {"retryInterval": "1m"}}}, "spec.upgrade.strategy",
         "retryInterval can only be set when name is RetryOnFailure"),
        ("Provider", {"type": "slack", "commitStatusExpr": "event.metadata.x"}, "spec",
         "commitStatusExpr is only supported by the Git commit-status types"),
        ("HelmChart", {"chart": "./charts/web", "interval": "5m", "verify": {"provider": "cosign"},
                       "sourceRef": {"kind": "GitRepository", "name": "r"}}, "spec",
         "verify is only supported when sourceRef.kind is HelmRepository"),
        ("Receiver", {"type": "generic", "secretRef": {"name": "t"}, "resources": []}, "spec.resources",
         "List should have at least 1 item after validation, not 0 (got a list)"),
        ("Canary", {**CANARY, "analysis": {"webhooks": [{"name": "w", "url": "http://t/", "retries": -1}]}},
         "spec.analysis.webhooks[0].retries", "Input should be greater than or equal to 0 (got int -1)"),
        ("Canary", {**CANARY, "service": {"port": 80, "targetPort": [80]}}, "spec.service.targetPort",
         "expected a number or a name, got list"),
        ("Canary", {**CANARY, "targetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "w"}},
         "spec.targetRef.kind",
         "'StatefulSet' is not allowed; expected 'Deployment', 'DaemonSet' or 'Service'"),
        ("HelmRelease",
         {"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "w"}, "maxHistory": 5.5},
         "spec.maxHistory", "expected an integer, got float 5.5"),
        ("HelmRelease", {"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "w"}, "values": [1]},
         "spec.values", "expected a mapping (key: value), got a list"),
        ("Kustomization", "apps", "spec", "expected a mapping (key: value), got str 'apps'"),
        ("Kustomization",
         {"interval": "5m", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "r"},
          "patchesJson6902": ["oops"]},
         "spec.patchesJson6902", "unknown field 'patchesJson6902'"),
    ],
)  # fmt: skip
def test_refusals(kind: str, spec: Any, field: str, message: str) -> None:
    error = _refusal(kind, spec)
    assert error.field == field
    assert message in str(error)


def test_legacy_patch_lists_are_checked_after_conversion() -> None:
    data = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1beta2",
        "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {"interval": "5m", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "r"},
                 "patchesJson6902": ["oops"]},
    }  # fmt: skip
    with pytest.raises(SpecError) as info:
        parse_object(data)
    assert info.value.field == "spec.patches[0]"
    assert "expected a mapping (key: value), got str 'oops'" in str(info.value)


@pytest.mark.parametrize(
    ("metadata", "field", "message"),
    [
        ({"name": ""}, "metadata.name", "must not be empty"),
        (
            {"name": "x", "labels": {"team": None}},
            "metadata.labels.team",
            "expected a string, got nothing (null)",
        ),
        (
            {"name": "x", "labels": {"tier": 2}},
            "metadata.labels.tier",
            'expected a string, got int 2; quote it ("2")',
        ),
    ],
)
def test_metadata_refusals(metadata: dict[str, Any], field: str, message: str) -> None:
    error = _refusal("GitRepository", GIT, metadata)
    assert error.field == field
    assert message in str(error)


def test_empty_oci_ref_means_latest() -> None:
    spec = {"url": "oci://r/m", "interval": "5m", "ref": {}}
    data = {
        "apiVersion": GROUPS["OCIRepository"],
        "kind": "OCIRepository",
        "metadata": {"name": "m"},
        "spec": spec,
    }
    repo = parse_object(data)
    assert isinstance(repo, OCIRepository) and repo.spec.ref.tag == "latest"


def test_generic_oidc_receiver_needs_no_secret() -> None:
    spec = {
        "type": "generic-oidc",
        "resources": [{"kind": "Bucket", "name": "b"}],
        "oidcProviders": [{"issuer": "https://token.actions.githubusercontent.com"}],
    }
    receiver = parse_object({"apiVersion": GROUPS["Receiver"], "kind": "Receiver", "metadata": {"name": "r"},
                             "spec": spec})  # fmt: skip
    assert receiver.spec.secret_ref is None


def test_models_validate_their_api_version_when_used_directly() -> None:
    data = {"apiVersion": "source.toolkit.fluxcd.io/v9", "kind": "GitRepository", "metadata": {"name": "x"},
            "spec": GIT}  # fmt: skip
    with pytest.raises(ValidationError, match=r"unknown apiVersion 'source\.toolkit\.fluxcd\.io/v9'"):
        GitRepository.model_validate(data)
    assert GitRepository.model_validate({**data, "apiVersion": "source.toolkit.fluxcd.io/v1"}).version == "v1"


def test_unreadable_yaml_characters(tmp_path: Any) -> None:
    with pytest.raises(SpecError, match="YAML syntax error: unacceptable character"):
        load_manifests("kind: \x07\n")
    path = tmp_path / "latin1.yaml"
    path.write_bytes("kind: caf\xe9\n".encode("latin-1"))
    with pytest.raises(
        SpecError, match=r"latin1\.yaml: not UTF-8 text \(invalid continuation byte at byte 9\)"
    ):
        load_manifests(path)


KS = {"interval": "5m", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "r"}}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"patch": "- op: add\n  path: /a\n  value: [1\n"}, "patch is not valid YAML (line 4 of the patch)"),
        ({"patch": "- op: add\n  path: /a\n  value: 1\n"},
         "a JSON6902 patch (a list of operations) needs a target"),
        ({"patch": "- op: ad\n  path: /a\n", "target": {"kind": "Deployment"}},
         "patch operation 1 needs op: one of add, remove, replace, move, copy, test"),
        ({"patch": "- op: remove\n", "target": {"kind": "Deployment"}}, "patch operation 1 needs a path"),
        ({"patch": "just text"}, "patch must be strategic-merge object(s) or one list of JSON6902 op"),
        ({"patch": "a: 1\n---\n- op: add\n"}, "patch must be strategic-merge object(s) or one list"),
    ],
)  # fmt: skip
def test_patches_are_parsed_when_read(patch: dict[str, Any], message: str) -> None:
    error = _refusal("Kustomization", {**KS, "patches": [patch]})
    assert error.field == "spec.patches[0]"
    assert message in str(error)


def test_good_patches_and_substitution_variables_pass() -> None:
    json_patch = "- op: add\n  path: /spec/path\n  value: ./x/${EXPERIMENT_ID}\n"
    strategic = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2}\n"
    two_objects = f"{strategic}---\n{strategic.replace('web', 'api')}"
    patches = [
        {"patch": json_patch, "target": {"kind": "Kustomization"}},
        {"patch": strategic},
        {"patch": two_objects},
    ]
    data = {
        "apiVersion": GROUPS["Kustomization"],
        "kind": "Kustomization",
        "metadata": {"name": "k"},
        "spec": {**KS, "patches": patches},
    }
    assert len(parse_object(data).spec.patches) == 3
