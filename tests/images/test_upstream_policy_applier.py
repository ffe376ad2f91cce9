"""image-automation-controller ``internal/policy`` (Test_applyPolicies), replayed case by case."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.setters import apply_setters
from airflow_flux_provider.specs import SpecError, load_manifests

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  template:
    spec:
      containers:
      - name: hello
        image: {image} # {{"$imagepolicy": "test-ns:{policy}"}}
"""

#: name -> (latest image of each policy, the policy the marker names, update.path, {file: (old, new)})
CASES = {
    "valid update strategy and one policy": (
        {"policy1": ("helloworld", "1.0.1")},
        "policy1",
        ".",
        {"deploy.yaml": ("test", "helloworld:1.0.0", "helloworld:1.0.1")},
    ),
    "valid update strategy and multiple policies": (
        {"policy1": ("foo", "1.1.1"), "policy2": ("helloworld", "1.0.1"), "policy3": ("bar", "2.2.2")},
        "policy2",
        ".",
        {"deploy.yaml": ("test", "helloworld:1.0.0", "helloworld:1.0.1")},
    ),
    "valid update strategy with update path": (
        {"policy1": ("helloworld", "1.0.1")},
        "policy1",
        "./yes",
        {
            "yes/deploy.yaml": ("update-yes", "helloworld:1.0.0", "helloworld:1.0.1"),
            "no/deploy.yaml": ("update-no", "helloworld:1.0.0", "helloworld:1.0.0"),
        },
    ),
}


@pytest.mark.parametrize(("latest", "target", "path", "files"), CASES.values(), ids=CASES.keys())
def test_apply_policies(
    tmp_path: Path,
    latest: dict[str, tuple[str, str]],
    target: str,
    path: str,
    files: dict[str, tuple[str, str, str]],
) -> None:
    for file, (name, old, _) in files.items():
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_text(DEPLOY.format(name=name, image=old, policy=target))
    policies = {f"test-ns:{name}": PolicyResult(image, tag) for name, (image, tag) in latest.items()}
    apply_setters(tmp_path, path, policies)
    for file, (name, _, new) in files.items():
        assert (tmp_path / file).read_text() == DEPLOY.format(name=name, image=new, policy=target)


AUTOMATION = """\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: test-update, namespace: test-ns}
spec:
  interval: 1m
  sourceRef: {kind: GitRepository, name: repo}
  git: {commit: {author: {email: flux@example.com}}}
"""


def test_unknown_update_strategy() -> None:
    with pytest.raises(SpecError) as info:
        load_manifests(AUTOMATION + "  update: {strategy: foo}\n")
    assert info.value.field == "spec.update.strategy"


def test_no_update_strategy() -> None:
    """Upstream's Go test passes a nil strategy, which its CRD never lets through: the API
    server defaults ``update`` to ``{strategy: Setters}``; so does the spec here."""
    (automation,) = load_manifests(AUTOMATION)
    assert automation.spec.update.strategy == "Setters"
