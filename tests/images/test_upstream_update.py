"""image-automation-controller ``internal/update``: its setter fixtures and expectations, replayed.

Each test is named after the upstream test it replays (TestUpdateWithSetters,
TestScreeningLocalReader, TestResult, TestResultObjectsAggregatesSameObjectAcrossFiles), with
upstream's inputs and expected outputs as data; a failure here is a Flux incompatibility.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.setters import ObjectId, UpdateResult, apply_setters
from airflow_flux_provider.images.template import NamespacedName, template_data

DIGEST = "sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be"
POLICIES = {
    "automation-ns:policy": PolicyResult("index.repo.fake/updated", "v1.0.1"),
    "automation-ns:unchanged": PolicyResult("image", "v1.0.0"),
    "automation-ns:policy-with-digest": PolicyResult("image", "v1.0.0", DIGEST),
}

KUSTOMIZATION = """\
# This is not intended to be a working kustomization
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - irrelevant.yaml
images:
  - name: container
    newName: {name} # {{"$imagepolicy": "automation-ns:policy:name"}}
    newTag: {tag} # {{"$imagepolicy": "automation-ns:policy:tag"}}
"""
KUSTOMIZATION_YML = """\
# This is not intended to be a working kustomization
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - unimportant.yaml
images:
  - name: container
    newName: {name} # {{"$imagepolicy": "automation-ns:policy:name"}}
    newTag: {tag} # {{"$imagepolicy": "automation-ns:policy:tag"}}
    newDigest: {digest} # {{"$imagepolicy": "automation-ns:policy-with-digest:digest"}}
# Prove fix for https://github.com/fluxcd/flux2/issues/3284
patches:
  - patch: |
      - op: replace
        path: /spec/template/spec/containers/0/volumeMounts
        value:
          - mountPath: /usr/share/wildfly/wildfly/standalone/configuration/appConfigMaps/WF
            name: wf-config
          - mountPath: /usr/share/wildfly/wildfly/standalone/configuration/appConfigMaps/xxx_config
            name: xxx-config
          - mountPath: /usr/share/wildfly/wildfly/standalone/log
            name: wildfly-standalone-log
    target:
      group: apps
      version: v1
      kind: Deployment
      name: sxxxxdadminservice
      image: {image} # {{"$imagepolicy": "automation-ns:policy-with-digest"}}
"""
MARKED = """\
apiVersion: batch/v1beta1
kind: CronJob
metadata:
  name: foo
  namespace: bar
spec:
  schedule: "*/1 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: c
            image: {image} # {{"$imagepolicy": "automation-ns:policy"}}
          - name: d
            image: image:v1.0.0 # {{"$imagepolicy": "automation-ns:unchanged"}}
"""
OTHERNS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: foo
  namespace: bar
spec:
  template:
    spec:
      containers:
      - name: c
        image: user:v1.0.0 # {"$imagepolicy": "other-namespace:policy"}
"""
UNMARKED = OTHERNS.replace(
    'user:v1.0.0 # {"$imagepolicy": "other-namespace:policy"}',
    "image:v1.0.0 # uses the same image. but should be left alone",
)

ORIGINAL = {
    "Kustomization": KUSTOMIZATION.format(name="replaced", tag="v1"),
    "kustomization.yml": KUSTOMIZATION_YML.format(
        name="replaced", tag="v1", digest="sha256:1234567890abcdef", image="image"
    ),
    "marked.yaml": MARKED.format(image="image:v1.0.0"),
    "otherns.yaml": OTHERNS,
    "unmarked.yaml": UNMARKED,
}
EXPECTED = {
    **ORIGINAL,
    "Kustomization": KUSTOMIZATION.format(name="index.repo.fake/updated", tag="v1.0.1"),
    "kustomization.yml": KUSTOMIZATION_YML.format(
        name="index.repo.fake/updated", tag="v1.0.1", digest=DIGEST, image=f"image:v1.0.0@{DIGEST}"
    ),
    "marked.yaml": MARKED.format(image="index.repo.fake/updated:v1.0.1"),
}

KUSTOMIZE_ID = ObjectId("kustomize.config.k8s.io/v1beta1", "Kustomization", "", "")
MARKED_ID = ObjectId("batch/v1beta1", "CronJob", "foo", "bar")


@pytest.fixture
def setters_original(tmp_path: Path) -> Path:
    """``testdata/setters/original``, with ``test.yaml`` a link to a file that is not there."""
    folder = tmp_path / "original"
    folder.mkdir()
    for name, text in ORIGINAL.items():
        (folder / name).write_text(text)
    (folder / "test.yaml").symlink_to("testing.yaml")
    return folder


def _changes(result: UpdateResult) -> dict[str, dict[ObjectId, list[tuple[str, str, str]]]]:
    grouped: dict[str, dict[ObjectId, list[tuple[str, str, str]]]] = {}
    for c in result.changes:
        grouped.setdefault(c.file, {}).setdefault(c.object, []).append((c.old, c.new, c.setter))
    return grouped


def test_update_with_setters(setters_original: Path) -> None:
    result = apply_setters(setters_original, ".", POLICIES)
    files = {p.name: p.read_text() for p in setters_original.iterdir() if not p.is_symlink()}
    assert files == EXPECTED
    assert _changes(result) == {
        "kustomization.yml": {
            KUSTOMIZE_ID: [
                ("replaced", "index.repo.fake/updated", "automation-ns:policy:name"),
                ("v1", "v1.0.1", "automation-ns:policy:tag"),
                ("sha256:1234567890abcdef", DIGEST, "automation-ns:policy-with-digest:digest"),
                ("image", f"image:v1.0.0@{DIGEST}", "automation-ns:policy-with-digest"),
            ]
        },
        "Kustomization": {
            KUSTOMIZE_ID: [
                ("replaced", "index.repo.fake/updated", "automation-ns:policy:name"),
                ("v1", "v1.0.1", "automation-ns:policy:tag"),
            ]
        },
        "marked.yaml": {
            MARKED_ID: [("image:v1.0.0", "index.repo.fake/updated:v1.0.1", "automation-ns:policy")]
        },
    }


def test_screening_local_reader(setters_original: Path) -> None:
    """Only files holding the token are read; the dangling ``test.yaml`` link is skipped."""
    result = apply_setters(setters_original, ".", POLICIES)
    assert sorted({file for file, _, _ in result.unknown_markers}) == ["otherns.yaml"]
    assert result.problem_files == []
    assert result.files == ["Kustomization", "kustomization.yml", "marked.yaml"]


def _result(changes: dict[str, dict[ObjectId, list[tuple[str, str, str]]]]) -> UpdateResult:
    from airflow_flux_provider.images.setters import Change

    image = PolicyResult("x", "y")
    return UpdateResult(
        [
            Change(file, n, obj, setter, old, new, image)
            for file, objects in changes.items()
            for obj, items in objects.items()
            for n, (old, new, setter) in enumerate(items)
        ]
    )


def test_result() -> None:
    foo, bar = ObjectId("", "", "foo", "ns"), ObjectId("", "", "bar", "ns")
    data = template_data(
        NamespacedName("ns", "a"),
        _result(
            {
                "foo.yaml": {foo: [("aaa", "bbb", "foo-ns:policy:name")]},
                "bar.yaml": {bar: [("cccc:v1.0", "cccc:v1.2", "foo-ns:policy")]},
            }
        ),
        legacy=False,
    )
    changes = {(c.OldValue, c.NewValue, c.Setter) for c in data.Changed.Changes}
    assert changes == {("aaa", "bbb", "foo-ns:policy:name"), ("cccc:v1.0", "cccc:v1.2", "foo-ns:policy")}
    objects = data.Changed.Objects
    assert {obj: [(c.OldValue, c.NewValue, c.Setter) for c in cs] for obj, cs in objects.items()} == {
        foo: [("aaa", "bbb", "foo-ns:policy:name")],
        bar: [("cccc:v1.0", "cccc:v1.2", "foo-ns:policy")],
    }


def test_result_objects_aggregates_same_object_across_files() -> None:
    podinfo = ObjectId("apps/v1", "Deployment", "podinfo", "default")
    data = template_data(
        NamespacedName("flux-system", "podinfo"),
        _result(
            {
                "base/deployment.yaml": {
                    podinfo: [("podinfo:v1.0.0", "podinfo:v1.0.1", "flux-system:podinfo")]
                },
                "overlays/prod/deployment.yaml": {podinfo: [("1", "2", "flux-system:replicas")]},
            }
        ),
        legacy=False,
    )
    assert {(c.OldValue, c.NewValue) for c in data.Changed.Objects[podinfo]} == {
        ("podinfo:v1.0.0", "podinfo:v1.0.1"),
        ("1", "2"),
    }
