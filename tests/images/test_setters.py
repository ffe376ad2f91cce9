"""Setters rewrite only the marked scalars; every other byte of every file stays put."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.setters import UpdateResult, apply_setters, set_text, update_path

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


UNUSUAL = {
    "after a flow mapping": '- {name: x, image: a:1} # {"$imagepolicy": "flux-system:app"}\n',
    "after a flow sequence": 'image: [a, b] # {"$imagepolicy": "flux-system:app"}\n',
    "inside a literal block": 'script: |\n  image: a:1 # {"$imagepolicy": "flux-system:app"}\n',
    "inside a folded block": 'script: >\n  image: a:1 # {"$imagepolicy": "flux-system:app"}\n',
    "on a >- indicator": 'image: >- # {"$imagepolicy": "flux-system:app"}\n  a:1\n',
    "on a Helm value": 'image: {{ .Values.image }} # {"$imagepolicy": "flux-system:app"}\n',
    "with trailing text": 'image: a:1 # {"$imagepolicy": "flux-system:app"} (bumped by Flux)\n',
    "naming no policy field": 'image: a:1 # {"$imagepolicy": "flux-system"}\n',
    "naming an unknown field": 'image: a:1 # {"$imagepolicy": "flux-system:app:version"}\n',
    "that is not JSON": "image: a:1 # {$imagepolicy: flux-system:app}\n",
    "with a value that is not a string": 'image: a:1 # {"$imagepolicy": "flux-system:app", "n": 1}\n',
    "on an empty value": 'image: # {"$imagepolicy": "flux-system:app"}\n',
    "on a mapping": 'spec: # {"$imagepolicy": "flux-system:app"}\n  image: a:1\n',
    "on an alias": 'base: &img a:1\nimage: *img # {"$imagepolicy": "flux-system:app"}\n',
    "on a whole comment line": '# image: a:1 # {"$imagepolicy": "flux-system:app"}\nimage: a:1\n',
    "above a mapping entry": '# {"$imagepolicy": "flux-system:app"}\nimage: a:1\n',
    "in a two-line comment above an item": '- x\n# note\n# {"$imagepolicy": "flux-system:app"}\n- a:1\n',
    "above an item that has a line comment": '# {"$imagepolicy": "flux-system:app"}\n- a:1 # pinned\n',
    "in a file that is not YAML": '{{- if .Values.x }}\nimage: a:1 # {"$imagepolicy": "ns:app"}\n{{ end }}',
}


@pytest.mark.parametrize("text", UNUSUAL.values(), ids=UNUSUAL.keys())
def test_markers_flux_ignores_leave_the_file_alone(text: str) -> None:
    new, result = set_text(text, {**POLICIES, "ns:app": POLICIES["flux-system:app"]}, "deploy.yaml")
    assert new == text
    assert result.changes == []


def test_unparsable_files_are_problem_files_not_errors() -> None:
    _, result = set_text(
        UNUSUAL["in a file that is not YAML"],
        {"ns:app": POLICIES["flux-system:app"]},
        "chart/templates/deploy.yaml",
    )
    assert result.problem_files == ["chart/templates/deploy.yaml"]


MARKED = {
    "head comment above a list item": (
        'images:\n  # {"$imagepolicy": "flux-system:app"}\n  - ghcr.io/org/app:1.0.0\n  - other:1\n',
        'images:\n  # {"$imagepolicy": "flux-system:app"}\n  - ghcr.io/org/app:1.2.0\n  - other:1\n',
    ),
    "digest setter without a reflected digest": (
        'digest: sha256:old # {"$imagepolicy": "flux-system:app:digest"}\n',
        'digest: "" # {"$imagepolicy": "flux-system:app:digest"}\n',
    ),
    "explicit tag and anchor": (
        'image: !!str &img ghcr.io/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}\nagain: *img\n',
        'image: !!str &img ghcr.io/org/app:1.2.0 # {"$imagepolicy": "flux-system:app"}\nagain: *img\n',
    ),
    "multi-line quoted value": (
        'image: "ghcr.io/org/\n  app:1.0.0" # {"$imagepolicy": "flux-system:app"}\n',
        'image: "ghcr.io/org/app:1.2.0" # {"$imagepolicy": "flux-system:app"}\n',
    ),
    "item of a flow sequence spread over lines": (
        'args: [\n  ghcr.io/org/app:1.0.0, # {"$imagepolicy": "flux-system:app"}\n  x]\n',
        'args: [\n  ghcr.io/org/app:1.0.0, # {"$imagepolicy": "flux-system:app"}\n  x]\n',
    ),
    "last item of a flow sequence spread over lines": (
        'args: [\n  x,\n  ghcr.io/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}\n]\n',
        'args: [\n  x,\n  ghcr.io/org/app:1.2.0 # {"$imagepolicy": "flux-system:app"}\n]\n',
    ),
    "extra leading hashes and no spaces": (
        'image: a:1 ##{"$imagepolicy":"flux-system:app"}\n',
        'image: ghcr.io/org/app:1.2.0 ##{"$imagepolicy":"flux-system:app"}\n',
    ),
    "value YAML would read as a number": (
        'tag: 1.0 # {"$imagepolicy": "flux-system:num:tag"}\n',
        'tag: "1.10" # {"$imagepolicy": "flux-system:num:tag"}\n',
    ),
    "value with a control character, double-quoted": (
        'tag: a # {"$imagepolicy": "flux-system:ctl:tag"}\n',
        'tag: "a\\x07\\u2028b" # {"$imagepolicy": "flux-system:ctl:tag"}\n',
    ),
    "value with a space, single-quoted": (
        'tag: \'a b\' # {"$imagepolicy": "flux-system:odd:tag"}\n',
        "tag: 'it''s: #1' # {\"$imagepolicy\": \"flux-system:odd:tag\"}\n",
    ),
    "plain value that needs quoting": (
        'tag: a # {"$imagepolicy": "flux-system:odd:tag"}\n',
        'tag: "it\'s: #1" # {"$imagepolicy": "flux-system:odd:tag"}\n',
    ),
}
ODD = {
    **POLICIES,
    "flux-system:num": PolicyResult("ghcr.io/org/num", "1.10"),
    "flux-system:odd": PolicyResult("ghcr.io/org/odd", "it's: #1"),
    "flux-system:ctl": PolicyResult("ghcr.io/org/ctl", "a\x07\u2028b"),
}


@pytest.mark.parametrize(("text", "expected"), MARKED.values(), ids=MARKED.keys())
def test_marked_scalars_in_every_position_flux_reads(text: str, expected: str) -> None:
    new, _ = set_text(text, {**ODD, "flux-system:app": PolicyResult("ghcr.io/org/app", "1.2.0")})
    assert new == expected
    yaml.safe_load(new)  # still YAML


def test_a_rewrite_that_would_change_other_values_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values inside flow collections (or spanning lines) are re-parsed after the rewrite."""
    from airflow_flux_provider.images import setters

    text = 'args: [\n  a:1 # {"$imagepolicy": "flux-system:app"}\n]\n'
    monkeypatch.setattr(setters, "_encode", lambda new, style: new + ", extra")
    with pytest.raises(ImageError, match=r"deploy\.yaml: rewriting the marked values would change"):
        set_text(text, POLICIES, "deploy.yaml")
    monkeypatch.setattr(setters, "_encode", lambda new, style: new + "}")
    with pytest.raises(ImageError, match=r"deploy\.yaml: rewriting the marked values would break"):
        set_text(text, POLICIES, "deploy.yaml")


def test_apply_setters_writes_only_changed_files(tmp_path: Path) -> None:
    base = tmp_path / "apps" / "prod"
    (base / "nested").mkdir(parents=True)
    (base / "web.yaml").write_text(ORIGINAL)
    untouched = 'image: ghcr.io/org/app:1.2.0 # {"$imagepolicy": "flux-system:app"}\n'
    (base / "nested" / "same.yml").write_text(untouched)
    (base / "notes.txt").write_text('image: x # {"$imagepolicy": "flux-system:app"}\n')
    (base / ".hidden").mkdir()
    (base / ".hidden" / "x.yaml").write_text('image: x # {"$imagepolicy": "flux-system:app"}\n')
    latin1 = '# caf\xe9\nimage: x # {"$imagepolicy": "flux-system:app"}\n'
    (base / "latin1.yaml").write_bytes(latin1.encode("latin-1"))
    (base / "dangling.yaml").symlink_to(base / "gone.yaml")
    before = (base / "nested" / "same.yml").stat().st_mtime_ns
    result = apply_setters(tmp_path, "./apps/prod", POLICIES)
    assert result.files == [".hidden/x.yaml", "web.yaml"]  # Flux walks hidden folders too
    assert result.problem_files == ["latin1.yaml"]  # not UTF-8: skipped, as Flux skips it
    assert (base / "web.yaml").read_text() == EXPECTED
    assert (base / "nested" / "same.yml").stat().st_mtime_ns == before
    assert "image: x" in (base / "notes.txt").read_text()
    assert "image: ghcr.io/org/app:1.2.0" in (base / ".hidden" / "x.yaml").read_text()


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


MARKER = '# {"$imagepolicy": "flux-system:app"}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a "#" glued to the value is part of a plain scalar, not a comment: no marker
        (f"image: a:1{MARKER}\n", f"image: a:1{MARKER}\n"),
        # quoting styles are kept; the old value's escapes do not matter
        (
            'tag: "v\\"1" # {"$imagepolicy": "flux-system:app:tag"}\n',
            'tag: "1.2.0" # {"$imagepolicy": "flux-system:app:tag"}\n',
        ),
        (
            "tag: 'it''s' # {\"$imagepolicy\": \"flux-system:app:tag\"}\n",
            'tag: \'1.2.0\' # {"$imagepolicy": "flux-system:app:tag"}\n',
        ),
        # a marker on a complex key, or above an item that is a block scalar, is ignored
        (f"? image {MARKER}\n: a:1\n", f"? image {MARKER}\n: a:1\n"),
        (f"{MARKER}\n- |\n  a:1\n", f"{MARKER}\n- |\n  a:1\n"),
        (f"{MARKER}\n- >\n  a:1\n", f"{MARKER}\n- >\n  a:1\n"),
        (f"{MARKER}\n- a:1\n", f"{MARKER}\n- ghcr.io/org/app:1.2.0\n"),
        # a head comment above an item counts from the dash's column on, not left of it
        (f"images:\n{MARKER}\n  - a:1\n", f"images:\n{MARKER}\n  - a:1\n"),
        (f"images:\n   {MARKER}\n  - a:1\n", f"images:\n   {MARKER}\n  - ghcr.io/org/app:1.2.0\n"),
    ],
)
def test_marker_position_and_quoting(text: str, expected: str) -> None:
    assert set_text(text, POLICIES)[0] == expected


@pytest.mark.parametrize("old", ["x", "'x'", '"x"'])
def test_values_needing_escapes_are_double_quoted(old: str) -> None:
    """Quote, backslash, tab, line breaks and every non-printable character are escaped."""
    tag = 'a"b\\c\td\ne\rf\ufeff\U000e0001\x85\u0100'
    text = f'tag: {old} # {{"$imagepolicy": "flux-system:q:tag"}}\n'
    new, _ = set_text(text, {"flux-system:q": PolicyResult("r/q", tag)})
    assert new == (
        'tag: "a\\"b\\\\c\\td\\ne\\rf\\ufeff\\U000e0001\\x85\u0100" # {"$imagepolicy": "flux-system:q:tag"}\n'
    )
    assert yaml.safe_load(new) == {"tag": tag}


def test_markers_naming_no_known_setter_are_reported_with_their_line() -> None:
    text = (
        'a: x # {"$imagepolicy": "app"}\n'
        'b: x # {"$imagepolicy": "flux-system:app:tag:x"}\n'
        'c: x # {"$imagepolicy": ""}\n'  # empty: no marker at all
        'd: x # ["$imagepolicy"]\n'  # not a JSON object: no marker
        'e: x # {"$imagepolicy": "other:app"}\n'
    )
    new, result = set_text(text, POLICIES, "f.yaml")
    assert new == text
    assert result.unknown_markers == [
        ("f.yaml", 1, "app"),
        ("f.yaml", 2, "flux-system:app:tag:x"),
        ("f.yaml", 5, "other:app"),
    ]


def test_changes_name_their_object_as_flux_does() -> None:
    """Identity is the document's own apiVersion, kind and metadata; nested metadata is not it."""
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: shop\n"
        f"spec:\n  template:\n    metadata: {{name: inner, namespace: other}}\n  image: a:1 {MARKER}\n"
        f"---\nkind: Job\nimage: a:1 {MARKER}\n---\nimage: a:1 {MARKER}\n"
    )
    _, result = set_text(text, POLICIES)
    pod, job, anonymous = (change.object for change in result.changes)
    assert [c.line for c in result.changes] == [9, 12, 14]
    assert str(anonymous) == "{{{ } { }}}"
    assert str(pod) == "{{{v1 Pod} {web shop}}}"
    assert pod.go_json() == {"apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": "shop"}
    assert str(job) == "{{{ Job} { }}}"
    assert job.go_json() == {"kind": "Job"}


def test_identity_is_found_after_nested_collections() -> None:
    text = (
        "apiVersion: v1\nkind: Pod\nitems:\n- a\n- {b: c}\nmetadata:\n  labels: {x: y}\n  name: web\n"
        f"image: a:1 {MARKER}\n"
    )
    ((line, obj),) = [(c.line, str(c.object)) for c in set_text(text, POLICIES)[1].changes]
    assert (line, obj) == (9, "{{{v1 Pod} {web }}}")


def test_unknown_markers_and_files_that_are_not_yaml_are_reported_per_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text('image: a:1 # {"$imagepolicy": "flux-system:gone"}\n')
    (tmp_path / "b.yaml").write_text('{{ if }}\nimage: a:1 # {"$imagepolicy": "flux-system:app"}\n')
    result = apply_setters(tmp_path, ".", POLICIES)
    assert result.unknown_markers == [("a.yaml", 1, "flux-system:gone")]
    assert result.problem_files == ["b.yaml"]
    assert result.changes == []


def test_yml_files_kustomization_files_and_links_inside_the_checkout_are_rewritten(tmp_path: Path) -> None:
    marked = f"image: a:1 {MARKER}\n"
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "real.yaml").write_text(marked)
    (tmp_path / "app.yml").write_text(marked)
    (tmp_path / "Kustomization").write_text(marked)
    (tmp_path / "link.yaml").symlink_to(tmp_path / "base" / "real.yaml")
    (tmp_path / "template.yaml").write_text("{{ if }}\nimage: a:1 # {$imagepolicy: x}\n")  # no quoted token
    result = apply_setters(tmp_path, ".", POLICIES)
    # the link is met first (files before folders) and writes through to its target
    assert result.files == ["Kustomization", "app.yml", "link.yaml"]
    assert result.problem_files == []
    assert (tmp_path / "link.yaml").is_symlink()
    for name in ("app.yml", "Kustomization", "base/real.yaml"):
        assert (tmp_path / name).read_text() == f"image: ghcr.io/org/app:1.2.0 {MARKER}\n"


def test_bad_update_paths_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as outside:
        apply_setters(tmp_path, "../elsewhere", POLICIES, obj="ImageUpdateAutomation/flux-system/x")
    assert str(outside.value) == (
        "ImageUpdateAutomation/flux-system/x field spec.update.path: update.path '../elsewhere' points "
        "outside the repository; use a path relative to its root"
    )
    (tmp_path / "file").write_text("")
    with pytest.raises(ImageError) as not_folder:
        apply_setters(tmp_path, "file", POLICIES)
    assert str(not_folder.value) == (
        "ImageUpdateAutomation field spec.update.path: update.path 'file' is not a folder of the repository"
    )


@pytest.mark.parametrize("prefix", ["!!str ", "&x "])
def test_a_rewrite_that_adds_a_tag_or_an_anchor_is_refused(
    monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    """The right new value with a tag or an anchor added is still a change to something else."""
    from airflow_flux_provider.images import setters

    monkeypatch.setattr(setters, "_encode", lambda new, style: prefix + new)
    with pytest.raises(ImageError, match="rewriting the marked values would change other values"):
        set_text('args: [\n  a:1 # {"$imagepolicy": "flux-system:app"}\n]\n', POLICIES, "deploy.yaml")


def test_git_folder_default_names_and_update_path_default_object(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text(f"image: a:1 {MARKER}\n")
    assert apply_setters(tmp_path, ".", POLICIES).files == []
    _, result = set_text('{{ if }}\nimage: a:1 # {"$imagepolicy": "flux-system:app"}\n', POLICIES)
    assert result.problem_files == ["<text>"]
    with pytest.raises(
        ImageError, match=r"^ImageUpdateAutomation field spec.update.path: update.path '\.\.' points"
    ):
        update_path(tmp_path, "..")


def test_texts_without_markers_and_root_scalars_are_left_alone() -> None:
    assert set_text("{{ not yaml }}\nimage: a:1\n", POLICIES) == (
        "{{ not yaml }}\nimage: a:1\n",
        UpdateResult(),
    )
    assert set_text(f"a:1 {MARKER}\n", POLICIES)[0] == f"a:1 {MARKER}\n"  # a document that is one scalar


def test_a_rewrite_refused_in_a_file_names_the_automation_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow_flux_provider.images import setters

    (tmp_path / "x.yaml").write_text('args: [\n  a:1 # {"$imagepolicy": "flux-system:app"}\n]\n')
    monkeypatch.setattr(setters, "_encode", lambda new, style: new + "}")
    with pytest.raises(ImageError) as info:
        apply_setters(tmp_path, ".", POLICIES, obj="ImageUpdateAutomation/flux-system/x")
    assert str(info.value) == (
        "ImageUpdateAutomation/flux-system/x field spec.update.path: x.yaml: rewriting the marked values "
        "would break the YAML; report this file"
    )


@pytest.mark.parametrize("properties", ["&img ", "!!str "])
def test_anchored_or_tagged_values_in_flow_collections_are_rewritten(properties: str) -> None:
    """The check after a flow rewrite compares anchors and tags with the old ones: kept, so accepted."""
    text = f'args: [\n  {properties}a:1 # {{"$imagepolicy": "flux-system:app"}}\n]\n'
    expected = f'args: [\n  {properties}ghcr.io/org/app:1.2.0 # {{"$imagepolicy": "flux-system:app"}}\n]\n'
    assert set_text(text, POLICIES)[0] == expected
