"""Setters rewrite only the marked scalars; every other byte of every file stays put."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.setters import apply_setters, set_text

POLICIES = {
    "flux-system:app": PolicyResult("ghcr.io/org/app", "1.2.0"),
    "flux-system:db": PolicyResult("docker.io/library/postgres", "16.4", "sha256:" + "a" * 64),
}

ORIGINAL = """\
# leading comment, kept
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # trailing comment
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
          args: ["--x", 'y']   # unrelated
        -   name: sidecar
            image: "ghcr.io/org/app:0.9"    # {"$imagepolicy": "flux-system:app"}
---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
- name: ghcr.io/org/old # {"$imagepolicy": "flux-system:app:name"}
  newTag: '1.0.0' # {"$imagepolicy": "flux-system:app:tag"}
- name: postgres
  newTag: 15 # {"$imagepolicy": "flux-system:db:tag"}
  digest: sha256:old # {"$imagepolicy": "flux-system:db:digest"}
- name: other
  newTag: v9 # {"$imagepolicy": "flux-system:unknown:tag"}
"""

EXPECTED = """\
# leading comment, kept
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # trailing comment
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.2.0 # {"$imagepolicy": "flux-system:app"}
          args: ["--x", 'y']   # unrelated
        -   name: sidecar
            image: "ghcr.io/org/app:1.2.0"    # {"$imagepolicy": "flux-system:app"}
---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
- name: ghcr.io/org/app # {"$imagepolicy": "flux-system:app:name"}
  newTag: '1.2.0' # {"$imagepolicy": "flux-system:app:tag"}
- name: postgres
  newTag: "16.4" # {"$imagepolicy": "flux-system:db:tag"}
  digest: sha256:DIGEST # {"$imagepolicy": "flux-system:db:digest"}
- name: other
  newTag: v9 # {"$imagepolicy": "flux-system:unknown:tag"}
""".replace("DIGEST", "a" * 64)


def test_only_marked_scalars_change() -> None:
    new, result = set_text(ORIGINAL, POLICIES, "apps/web.yaml")
    assert new == EXPECTED
    assert [(c.line, c.setter, c.old, c.new) for c in result.changes] == [
        (12, "flux-system:app", "ghcr.io/org/app:1.0.0", "ghcr.io/org/app:1.2.0"),
        (15, "flux-system:app", "ghcr.io/org/app:0.9", "ghcr.io/org/app:1.2.0"),
        (20, "flux-system:app:name", "ghcr.io/org/old", "ghcr.io/org/app"),
        (21, "flux-system:app:tag", "1.0.0", "1.2.0"),
        (23, "flux-system:db:tag", "15", "16.4"),
        (24, "flux-system:db:digest", "sha256:old", "sha256:" + "a" * 64),
    ]
    assert result.changes[0].object.Kind == "Deployment"
    assert (result.changes[0].object.Name, result.changes[0].object.Namespace) == ("web", "shop")
    assert result.changes[2].object.Kind == "Kustomization"
    assert result.unknown_markers == [("apps/web.yaml", 26, "flux-system:unknown:tag")]
    # a tag that YAML would read as a number is quoted, so the value stays a string
    assert list(yaml.safe_load_all(new))[1]["images"][1]["newTag"] == "16.4"


def test_crlf_and_unchanged_values_are_left_alone() -> None:
    text = 'image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}\r\nx: 1\r\n'
    new, _ = set_text(text, POLICIES)
    assert new == 'image: ghcr.io/org/app:1.2.0 # {"$imagepolicy": "flux-system:app"}\r\nx: 1\r\n'
    again, second = set_text(new, POLICIES)
    assert again == new and second.changes == []


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('image: x # {"$imagepolicy": "flux-system"}', "malformed image policy marker"),
        ('image: x # {"$imagepolicy": "flux-system:app:version"}', "malformed image policy marker"),
        ("image: x # {$imagepolicy: flux-system:app}", "malformed image policy marker"),
        ('image: # {"$imagepolicy": "flux-system:app"}', "not on a single-line scalar"),
        ('image: [a, b] # {"$imagepolicy": "flux-system:app"}', "not on a single-line scalar"),
        ('image: | # {"$imagepolicy": "flux-system:app"}', "not on a single-line scalar"),
    ],
)
def test_bad_markers_name_file_and_line(line: str, needle: str) -> None:
    with pytest.raises(ImageError) as info:
        set_text(f"a: 1\n{line}\n", POLICIES, "deploy.yaml")
    assert str(info.value).startswith("deploy.yaml:2: ")
    assert needle in str(info.value)


def test_comment_lines_are_not_markers() -> None:
    text = '# image: x # {"$imagepolicy": "flux-system:app"}\n'
    assert set_text(text, POLICIES)[0] == text


def test_apply_setters_writes_only_changed_files(tmp_path: Path) -> None:
    base = tmp_path / "apps" / "prod"
    (base / "nested").mkdir(parents=True)
    (base / "web.yaml").write_text(ORIGINAL)
    untouched = 'image: ghcr.io/org/app:1.2.0 # {"$imagepolicy": "flux-system:app"}\n'
    (base / "nested" / "same.yml").write_text(untouched)
    (base / "notes.txt").write_text('image: x # {"$imagepolicy": "flux-system:app"}\n')
    (base / ".hidden").mkdir()
    (base / ".hidden" / "x.yaml").write_text('image: x # {"$imagepolicy": "flux-system:app"}\n')
    before = (base / "nested" / "same.yml").stat().st_mtime_ns
    result = apply_setters(tmp_path, "./apps/prod", POLICIES)
    assert result.files == ["web.yaml"]
    assert (base / "web.yaml").read_text() == EXPECTED
    assert (base / "nested" / "same.yml").stat().st_mtime_ns == before
    assert "image: x" in (base / "notes.txt").read_text()
    assert "image: x" in (base / ".hidden" / "x.yaml").read_text()


def test_update_path_must_stay_inside_the_checkout(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="outside the repository"):
        apply_setters(tmp_path, "../elsewhere", POLICIES, obj="ImageUpdateAutomation/flux-system/x")
    with pytest.raises(ImageError, match="is not a folder"):
        apply_setters(tmp_path, "missing", POLICIES)


def test_links_leaving_the_checkout_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text('image: x # {"$imagepolicy": "flux-system:app"}\n')
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True)
    (repo / "deploy" / "link.yaml").symlink_to(outside)
    (repo / "deploy" / "inside.yaml").write_text('image: x # {"$imagepolicy": "flux-system:app"}\n')
    result = apply_setters(repo, "deploy", POLICIES)
    assert result.files == ["inside.yaml"]
    assert outside.read_text().startswith("image: x ")
