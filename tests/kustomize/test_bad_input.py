"""Every bad input of issue 5 fails with a KustomizeError naming the Kustomization, the file and the fix."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.kustomize import KustomizeError, RenderStore, SubstitutionError, render
from tests.kustomize.conftest import kustomization, write_tree
from tests.kustomize.corpus import BASE, CONFIG, DEPLOY

OBJ = "Kustomization/flux-system/app"


def fail(
    tmp_path: Path, store: RenderStore, files: Mapping[str, str | bytes], **spec: object
) -> KustomizeError:
    source = write_tree(Path(tempfile.mkdtemp(dir=tmp_path)), files)
    path = str(spec.pop("path", "./app"))
    with pytest.raises(KustomizeError) as caught:
        render(kustomization(path, **spec), source, store=store)  # type: ignore[arg-type]
    assert isinstance(caught.value, FluxError)
    assert str(caught.value).startswith(OBJ)
    return caught.value


def test_missing_resource_file_quotes_kustomize(tmp_path: Path, store: RenderStore) -> None:
    err = fail(
        tmp_path,
        store,
        {"app/kustomization.yaml": "resources: [deploy.yaml, gone.yaml]\n", "app/deploy.yaml": DEPLOY},
    )
    assert "kustomize build failed for path app" in str(err)
    assert "accumulating resources from 'gone.yaml'" in str(err)
    assert "/tmp" not in str(err).split("kustomize build failed")[1].split("gone.yaml")[0]


def test_invalid_patch_in_kustomization_file(tmp_path: Path, store: RenderStore) -> None:
    err = fail(
        tmp_path,
        store,
        {**BASE, "app/kustomization.yaml": 'resources: [../base]\npatches:\n- patch: "{not: valid"\n'},
    )
    assert "unable to parse SM or JSON patch" in str(err)


def test_strategic_patch_for_absent_object(tmp_path: Path, store: RenderStore) -> None:
    patch = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nope}\ndata: {a: b}\n"
    err = fail(
        tmp_path,
        store,
        {**BASE, "app/kustomization.yaml": "resources: [../base]\n"},
        patches=[{"patch": patch}],
    )
    assert "no resource matches strategic merge patch" in str(err)


def test_spec_patch_target_matching_nothing_is_a_no_op(tmp_path: Path, store: RenderStore) -> None:
    """kustomize (and so Flux) skips a patch whose target selects nothing; the build succeeds."""
    patch = "- {op: replace, path: /spec/replicas, value: 2}\n"
    source = write_tree(tmp_path / "src", {**BASE, "app/kustomization.yaml": "resources: [../base]\n"})
    patches = [{"patch": patch, "target": {"kind": "Deployment", "name": "absent"}}]
    rendered = render(kustomization(patches=patches), source, store=store).read()
    plain = render(kustomization(), source, store=store).read()
    assert rendered == plain and "replicas: 1" in rendered


def test_non_utf8_file(tmp_path: Path, store: RenderStore) -> None:
    bad = b'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: "\xff\xfe"\n'
    err = fail(tmp_path, store, {"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": bad})
    assert "invalid leading UTF-8 octet" in str(err) and "cm.yaml" in str(err)
    err = fail(tmp_path, store, {"app/cm.yaml": bad})  # no kustomization.yaml: Flux decodes every file
    assert "failed to decode Kubernetes YAML from cm.yaml: not UTF-8 text" in str(err)


def test_yaml_bomb_is_refused_before_kustomize_hangs(tmp_path: Path, store: RenderStore) -> None:
    lines = ['  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"  {name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n" + "\n".join(lines) + "\n"
    err = fail(tmp_path, store, {"app/kustomization.yaml": "resources: [bomb.yaml]\n", "app/bomb.yaml": bomb})
    assert "app/bomb.yaml uses YAML aliases that expand to more than 100000 nodes" in str(err)


def test_duplicate_objects(tmp_path: Path, store: RenderStore) -> None:
    files = {
        "app/kustomization.yaml": "resources: [a.yaml, b.yaml]\n",
        "app/a.yaml": CONFIG,
        "app/b.yaml": CONFIG,
    }
    err = fail(tmp_path, store, files)
    assert "may not add resource with an already registered id: ConfigMap.v1.[noGrp]/settings" in str(err)


def test_invalid_variable_syntax_names_the_object(tmp_path: Path, store: RenderStore) -> None:
    files = {"app/cm.yaml": CONFIG.replace("mode: fast", "mode: ${MODE")}
    err = fail(tmp_path, store, files, postBuild={"substitute": {"MODE": "x"}})
    assert isinstance(err, SubstitutionError)
    assert (
        "post build failed for 'ConfigMap/settings': variable substitution failed: missing closing brace"
        in str(err)
    )


def test_strict_mode_lists_every_missing_variable(tmp_path: Path, store: RenderStore) -> None:
    files = {
        "app/a.yaml": CONFIG.replace("mode: fast", "mode: ${A}\n  other: ${B:=ok}\n  more: ${C^^}"),
        "app/b.yaml": CONFIG.replace("settings", "two").replace("fast", "${D}"),
    }
    err = fail(tmp_path, store, files, postBuild={"substitute": {"X": "1"}})
    assert "variables not set (strict mode): ConfigMap/settings (A, C); ConfigMap/two (D)" in str(err)


def test_path_escaping_the_artifact(tmp_path: Path, store: RenderStore) -> None:
    err = fail(tmp_path, store, {"app/cm.yaml": CONFIG}, path="../")
    assert err.field == "spec.path" and "escapes the source artifact root" in str(err)


def test_missing_path(tmp_path: Path, store: RenderStore) -> None:
    err = fail(tmp_path, store, {"app/cm.yaml": CONFIG}, path="./nope")
    assert "kustomization path not found: './nope'" in str(err)


def test_resource_escaping_the_artifact(tmp_path: Path, store: RenderStore) -> None:
    err = fail(tmp_path, store, {"app/kustomization.yaml": "resources: [../../elsewhere]\n"})
    assert "resources entry '../../elsewhere' escapes the source artifact root" in str(err)


def test_symlink_out_of_the_artifact(tmp_path: Path, store: RenderStore) -> None:
    source = write_tree(tmp_path / "source", {"app/kustomization.yaml": "resources: [secret.yaml]\n"})
    (source / "app" / "secret.yaml").symlink_to("/etc/hostname")
    with pytest.raises(
        KustomizeError, match=r"app/secret\.yaml is a symlink pointing outside the source artifact"
    ):
        render(kustomization(), source, store=store)


def test_remote_base_refused(tmp_path: Path, store: RenderStore) -> None:
    files = {
        "app/kustomization.yaml": "resources: [../base]\n",
        "base/kustomization.yaml": "resources:\n- https://github.com/org/repo//deploy?ref=v1\n",
    }
    err = fail(tmp_path, store, files)
    # query values are redacted in every FluxError message (credentials.redact_url)
    assert "remote resources entry 'https://github.com/org/repo//deploy?ref=***' is refused" in str(err)
    assert "base/kustomization.yaml" in str(err)


def test_remote_component_in_spec(tmp_path: Path, store: RenderStore) -> None:
    err = fail(tmp_path, store, {"app/cm.yaml": CONFIG}, components=["git@github.com:org/c.git"])
    assert err.field == "spec.components"


def test_missing_component_without_ignore_fails_in_the_build_as_in_flux(
    tmp_path: Path, store: RenderStore
) -> None:
    err = fail(tmp_path, store, {"app/cm.yaml": CONFIG}, components=["../absent"])
    assert err.field == "spec.path" and "kustomize build failed for path app: accumulating components" in str(
        err
    )
    assert "absent" in str(err)


def test_folder_with_non_manifest_yaml(tmp_path: Path, store: RenderStore) -> None:
    err = fail(tmp_path, store, {"app/cm.yaml": CONFIG, "app/values.yaml": "replicas: 2\n"})
    assert "failed to decode Kubernetes YAML from values.yaml" in str(err)


def test_substituted_value_breaking_yaml_is_reported_without_the_value(
    tmp_path: Path, store: RenderStore
) -> None:
    files = {"app/cm.yaml": CONFIG.replace("mode: fast", "mode: ${TOKEN}")}
    err = fail(tmp_path, store, files, postBuild={"substitute": {"TOKEN": "s3cr3t: [unclosed"}})
    assert "post build failed for 'ConfigMap/settings': the substituted object is not valid YAML" in str(err)
    assert "s3cr3t" not in str(err)


SOPS_SECRET = """\
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData:
  password: ENC[AES256_GCM,data:PyhZmNhy929JGQ==,iv:PBqPaJmSw21+kn4g=,tag:Hjc7Dsu==,type:str]
sops:
  mac: ENC[AES256_GCM,data:jtdzwj19uxdxvnmX,iv:xX3E7F+AM29P=,tag:MJPG==,type:str]
  version: 3.7.1
"""


def test_sops_encrypted_secret_is_never_applied_without_decryption(
    tmp_path: Path, store: RenderStore
) -> None:
    err = fail(tmp_path, store, {"app/secret.yaml": SOPS_SECRET})
    assert "Secret/db is SOPS encrypted, configuring decryption is required" in str(err)
    assert "PyhZmNhy" not in str(err)
    opted_out = SOPS_SECRET.replace(
        "name: db}", "name: db, annotations: {kustomize.toolkit.fluxcd.io/decrypt: Disabled}}"
    )
    source = write_tree(tmp_path / "opted-out", {"app/secret.yaml": opted_out})
    assert render(kustomization(), source, store=store).kinds == {"Secret": 1}
    err = fail(tmp_path, store, {"app/secret.yaml": SOPS_SECRET}, decryption={"provider": "sops"})
    assert err.field == "spec.decryption.secretRef" and "no keys were given" in str(err)
