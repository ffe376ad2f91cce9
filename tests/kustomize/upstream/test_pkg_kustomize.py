"""fluxcd/pkg ``kustomize`` v1.39.0: ``kustomize_generator_test.go``, ``kustomize_varsub_test.go``
and ``kustomize_generator_whitebox_test.go``, case for case, on our render.

Upstream's testdata is under ``pkg_kustomize/``. Where upstream calls its generator alone, the
generated ``kustomization.yaml`` is read from our build folder (:class:`Workspace`); where it
builds, our render (the real kustomize) is compared with upstream's expected output.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.kustomize import (
    ClusterReader,
    KustomizeError,
    RenderStore,
    SubstitutionError,
    render,
)
from airflow_flux_provider.kustomize.workspace import Workspace
from airflow_flux_provider.specs import Kustomization, load_manifests
from tests.kustomize.conftest import kustomization, write_tree

DATA = Path(__file__).parent / "pkg_kustomize"
IMAGE = "ghcr.io/example/app"
DIGEST = "sha256:" + "a" * 64
DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector:
    matchLabels:
      app: app
  template:
    metadata:
      labels:
        app: app
    spec:
      containers:
        - name: app
          image: {IMAGE}
"""


def ks_of(file: str, **override: Any) -> Kustomization:
    (obj,) = load_manifests(DATA / file)
    assert isinstance(obj, Kustomization)
    return obj.model_copy(update={"spec": obj.spec.model_copy(update=override)}) if override else obj


def copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / "src"
    shutil.copytree(DATA / name, target) if name else target.mkdir()
    return target


def generated(ks: Kustomization, root: Path, tmp_path: Path, **options: Any) -> dict[str, Any]:
    """The kustomization.yaml our build folder holds for ``ks`` (upstream's GenerateManifest)."""
    work = tmp_path / "work"
    work.mkdir()
    folder = Workspace(root, ks.spec, obj=ks.ref, **options).prepare(work)
    return dict(yaml.safe_load((folder / "kustomization.yaml").read_text()))


def objects(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


# -- kustomize_generator_test.go ------------------------------------------------------------
def test_generator_empty_dir(tmp_path: Path, store: RenderStore) -> None:
    root = copy("", tmp_path)
    (root / "empty").mkdir()
    assert generated(ks_of("empty/ks.yaml"), root, tmp_path)["namespace"] == "_placeholder"
    assert render(ks_of("empty/ks.yaml"), root, store=store).objects == 0


def test_generator_no_resources(tmp_path: Path, store: RenderStore) -> None:
    root = copy("noResources", tmp_path)
    assert generated(ks_of("noResources/ks.yaml"), root, tmp_path)["buildMetadata"] == ["originAnnotations"]
    assert render(ks_of("noResources/ks.yaml"), root, store=store).objects == 0


def test_generator_name_transformer(tmp_path: Path, store: RenderStore) -> None:
    (obj,) = objects(render(ks_of("name/ks.yaml"), copy("name", tmp_path), store=store).read())
    assert "prefix-test-configmap-suffix" in obj["metadata"]["name"]
    assert obj["metadata"]["namespace"] == "test-namespace"


@pytest.mark.parametrize("case", ["secured with securefs", "not secured"])
def test_kustomization_generator(case: str, tmp_path: Path, store: RenderStore) -> None:
    root = copy("resources", tmp_path)
    rendered = render(ks_of("kustomization.yaml", path="./"), root, store=store)
    assert rendered.read() == (DATA / "kustomization_expected.yaml").read_text()


def test_secure_build_panic(tmp_path: Path, store: RenderStore) -> None:
    """Upstream recovers kustomize's panic on this input; the build fails with an error either way."""
    for _attempt in range(2):  # and a second build works the same (upstream: the lock is released)
        with pytest.raises(KustomizeError, match="kustomize build failed"):
            render(kustomization("./"), copy("panic", tmp_path / str(_attempt)), store=store)


def test_secure_build_rel_basedir(tmp_path: Path, store: RenderStore) -> None:
    root = copy("relbase", tmp_path)
    assert render(kustomization("./clusters/staging/flux-system"), root, store=store).objects >= 1


@pytest.mark.parametrize(
    ("folder", "flux", "expected"),
    [
        ("components", [], ["componentA"]),
        ("", ["componentB", "componentC"], ["componentB", "componentC"]),
        ("components", ["componentB", "componentC"], ["componentA", "componentB", "componentC"]),
    ],
    ids=["file only", "spec only", "file and spec"],
)
def test_components(folder: str, flux: list[str], expected: list[str], tmp_path: Path) -> None:
    root = copy(folder, tmp_path)
    for name in {*flux, *expected}:
        write_tree(
            root / name,
            {"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"},
        )
    spec = {"components": flux} if flux else {}
    assert generated(kustomization("./", **spec), root, tmp_path)["components"] == expected


REGISTRY = "registry.example.com/app"


def image(**fields: str) -> dict[str, str]:
    return {"name": IMAGE, **fields}


IMAGES = [
    ("existing newTag is preserved when only newName is set", [image(newTag="v1.2.3")],
     [image(newName=REGISTRY)], [image(newName=REGISTRY, newTag="v1.2.3")], f"{REGISTRY}:v1.2.3"),
    ("existing newName is preserved when only newTag is set", [image(newName=REGISTRY)],
     [image(newTag="v2.0.0")], [image(newName=REGISTRY, newTag="v2.0.0")], f"{REGISTRY}:v2.0.0"),
    ("existing digest is preserved when only newName is set", [image(digest=DIGEST)],
     [image(newName=REGISTRY)], [image(newName=REGISTRY, digest=DIGEST)], f"{REGISTRY}@{DIGEST}"),
    ("existing digest is cleared when only newTag is set", [image(digest=DIGEST)],
     [image(newTag="v2.0.0")], [image(newTag="v2.0.0")], f"{IMAGE}:v2.0.0"),
    ("existing newTag is cleared when only digest is set", [image(newTag="v1.2.3")],
     [image(digest=DIGEST)], [image(digest=DIGEST)], f"{IMAGE}@{DIGEST}"),
    ("existing newName is preserved when newTag replaces digest", [image(newName=REGISTRY, digest=DIGEST)],
     [image(newTag="v2.0.0")], [image(newName=REGISTRY, newTag="v2.0.0")], f"{REGISTRY}:v2.0.0"),
    ("newTag and digest set together are both applied", [image(newTag="v1.2.3")],
     [image(newTag="v2.0.0", digest=DIGEST)], [image(newTag="v2.0.0", digest=DIGEST)],
     f"{IMAGE}:v2.0.0@{DIGEST}"),
    ("entry with only a name leaves the existing entry unchanged", [image(newName=REGISTRY, newTag="v1.2.3")],
     [image()], [image(newName=REGISTRY, newTag="v1.2.3")], f"{REGISTRY}:v1.2.3"),
    ("existing fields are overridden when set", [image(newName="old.example.com/app", newTag="v1.2.3")],
     [image(newName=REGISTRY, newTag="v2.0.0")], [image(newName=REGISTRY, newTag="v2.0.0")],
     f"{REGISTRY}:v2.0.0"),
    ("image without existing entry is appended", [],
     [image(newName=REGISTRY, newTag="v2.0.0")], [image(newName=REGISTRY, newTag="v2.0.0")],
     f"{REGISTRY}:v2.0.0"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "existing", "flux", "expected", "image"), IMAGES, ids=[c[0] for c in IMAGES]
)
def test_images(
    case: str,
    existing: list[dict],
    flux: list[dict],
    expected: list[dict],
    image: str,
    tmp_path: Path,
    store: RenderStore,
) -> None:
    file = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["deployment.yaml"],
    }
    root = write_tree(
        tmp_path / "src",
        {
            "deployment.yaml": DEPLOYMENT,
            "kustomization.yaml": yaml.safe_dump({**file, **({"images": existing} if existing else {})}),
        },
    )
    ks = kustomization("./", images=flux)
    assert generated(ks, root, tmp_path)["images"] == expected
    (deployment,) = objects(render(ks, root, store=store).read())
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image


def test_generator_build_metadata(tmp_path: Path, store: RenderStore) -> None:
    root = copy("buildMetadata", tmp_path)
    ks = ks_of("buildMetadata/ks.yaml")
    assert generated(ks, root, tmp_path)["buildMetadata"] == ["originAnnotations", "transformerAnnotations"]
    assert render(ks, root, store=store).objects == 1


def test_generator_build_metadata_empty_spec(tmp_path: Path) -> None:
    assert generated(kustomization("./"), copy("buildMetadata", tmp_path), tmp_path)["buildMetadata"] == [
        "originAnnotations"
    ]


def test_generator_build_metadata_no_resources(tmp_path: Path) -> None:
    ks = kustomization("./", buildMetadata=["transformerAnnotations"])
    assert generated(ks, copy("noResources", tmp_path), tmp_path)["buildMetadata"] == [
        "transformerAnnotations"
    ]


LOCAL_PATHS = [
    ("foobar.yaml", True), ("./foobar.yaml", True), ("file://foobar.yaml", True),
    ("file:///foobar.yaml", False),
    ("/foobar.yaml", False), ("https://github.com/owner/repo", False), ("git@github.com:owner/repo", False),
    ("ssh://git@github.com/owner/repo", False), ("github.com/owner/repo", False),
]  # fmt: skip


@pytest.mark.parametrize(("path", "local"), LOCAL_PATHS, ids=[c[0] for c in LOCAL_PATHS])
def test_is_local_relative_path(path: str, local: bool, tmp_path: Path) -> None:
    """Upstream's IsLocalRelativePath decides whether a spec component is accepted."""
    root = write_tree(tmp_path / "src", {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"})
    ks = kustomization("./", components=[path], ignoreMissingComponents=True)
    if local:
        generated(ks, root, tmp_path)
    else:
        with pytest.raises(KustomizeError, match="must be local and relative"):
            generated(ks, root, tmp_path)


EXISTING, MISSING = "existing-component", "missing-component"
IGNORE_MISSING = [
    ("missing components with ignore enabled", [EXISTING, MISSING], True, False, [EXISTING]),
    ("all components missing with ignore enabled", [f"{MISSING}-1", f"{MISSING}-2"], True, False, None),
    ("all components exist", [EXISTING], True, False, [EXISTING]),
    ("missing components with ignore disabled - should fail during build", [EXISTING, MISSING], False, True,
     [EXISTING, MISSING]),
]  # fmt: skip
COMPONENT = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"


@pytest.mark.parametrize(
    ("case", "components", "ignore", "fails", "expected"), IGNORE_MISSING, ids=[c[0] for c in IGNORE_MISSING]
)
def test_ignore_missing_components(
    case: str,
    components: list[str],
    ignore: bool,
    fails: bool,
    expected: list[str] | None,
    tmp_path: Path,
    store: RenderStore,
) -> None:
    root = write_tree(
        tmp_path / "src",
        {
            f"{EXISTING}/kustomization.yaml": COMPONENT + "resources: []\n",
            "overlay/.keep": "",
        },
    )
    ks = kustomization(
        "./overlay", components=[f"../{c}" for c in components], ignoreMissingComponents=ignore
    )
    assert generated(ks, root, tmp_path).get("components") == (
        [f"../{c}" for c in expected] if expected else None
    )
    if fails:
        with pytest.raises(KustomizeError, match="missing-component"):
            render(ks, root, store=store)
    else:
        render(ks, root, store=store)


@pytest.mark.parametrize("source", ["resources", ""], ids=["existing kustomization", "empty dir"])
def test_generate_manifest_writes_nothing_to_the_source(
    source: str, tmp_path: Path, store: RenderStore
) -> None:
    root = copy(source, tmp_path)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    render(kustomization("./"), root, store=store)
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    ("ignore", "expected"), [("", ""), ("!config.yaml", "kustomization_with_ignore_expected.yaml")]
)
def test_kustomization_generator_with_source_ignore(
    ignore: str, expected: str, tmp_path: Path, store: RenderStore
) -> None:
    """``.sourceignore`` (``/*``) leaves everything out unless a pattern brings a file back."""
    root = copy("resources", tmp_path)
    ks = ks_of("kustomization.yaml", path="./")
    rendered = render(ks, root, store=store, ignore=[ignore] if ignore else [])
    assert rendered.read() == ((DATA / expected).read_text() if expected else "")


@pytest.mark.parametrize(
    ("ignore", "expected"),
    [
        (
            "",
            [
                "configmap.yaml",
                "https://raw.githubusercontent.com/fluxcd/flux2/main/manifests/rbac/controller.yaml",
            ],
        ),
        (
            "configmap.yaml",
            ["https://raw.githubusercontent.com/fluxcd/flux2/main/manifests/rbac/controller.yaml"],
        ),
    ],
    ids=["without ignore", "with ignore"],
)
def test_kustomization_generator_with_remote_resource(
    ignore: str, expected: list[str], tmp_path: Path
) -> None:
    root = copy("remote", tmp_path)
    kfile = generated(
        kustomization("./"), root, tmp_path, allow_remote_bases=True, ignore=[ignore] if ignore else []
    )
    assert kfile["resources"] == expected


# -- kustomize_varsub_test.go ---------------------------------------------------------------
def test_kustomization_varsub(
    tmp_path: Path, store: RenderStore, sandbox: Any, sandbox_namespace: str
) -> None:
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    (cm,) = yaml.safe_load_all((DATA / "configmap.yaml").read_text())
    cluster.apply({**cm, "metadata": {**cm["metadata"], "namespace": sandbox_namespace}})
    reader = ClusterReader(cluster)
    (raw,) = yaml.safe_load_all((DATA / "kustomization_varsub.yaml").read_text())
    spec = {**raw["spec"], "path": "./"}
    ks = kustomization(
        namespace=sandbox_namespace,
        **{k: v for k, v in spec.items() if k not in ("interval", "prune", "sourceRef", "validation")},
    )
    rendered = render(ks, copy("resources", tmp_path), store=store, reader=reader)
    assert objects(rendered.read()) == objects((DATA / "kustomization_varsub_expected.yaml").read_text())
    strict_source = copy("varsubstrict", tmp_path / "strict")
    with pytest.raises(SubstitutionError, match="not set"):
        render(ks, strict_source, store=store, reader=reader)
    assert render(ks, strict_source, store=store, reader=reader, strict=False).objects == 1


@pytest.mark.parametrize(
    "always", [False, True], ids=["disabled: defaults stay", "enabled: defaults substituted"]
)
def test_kustomization_varsub_always(always: bool, tmp_path: Path, store: RenderStore) -> None:
    ks = kustomization("./", postBuild={"substituteStrategy": "Always"} if always else {})
    text = render(ks, copy("varsubalways", tmp_path), store=store).read()
    if always:
        assert "${" not in text and "environment: dev" in text and "region: eu-central-1" in text
    else:
        assert "${cluster_env:=dev}" in text and "${cluster_region:=eu-central-1}" in text


def test_kustomization_varsub_strict_empty_values(
    tmp_path: Path,
    store: RenderStore,
    sandbox: Any,
    sandbox_namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Empty values are set in strict mode and render as ``null``, as with no value in non-strict."""
    from airflow_flux_provider.kustomize.build_output import go_yaml, load_objects

    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    for file in ("configmap_empty.yaml", "secret_empty.yaml"):
        (obj,) = yaml.safe_load_all((DATA / file).read_text())
        cluster.apply({**obj, "metadata": {**obj["metadata"], "namespace": sandbox_namespace}})
    refs = [{"kind": "ConfigMap", "name": "app-vars-empty"}, {"kind": "Secret", "name": "app-vars-empty"}]
    ks = kustomization(
        "./",
        namespace=sandbox_namespace,
        postBuild={"substitute": {"empty_inline": ""}, "substituteFrom": refs},
    )
    root = copy("varsubstrictempty", tmp_path)
    (obj,) = load_objects(render(ks, root, store=store, reader=ClusterReader(cluster)).read())
    printed = go_yaml(obj)
    assert "${" not in printed
    for label in ("from-inline", "from-configmap", "from-secret"):
        assert f"{label}: null" in printed
    dummy = kustomization("./", postBuild={"substitute": {"dummy": "unused"}})
    (omitted,) = load_objects(render(dummy, root, store=store, strict=False).read())
    assert go_yaml(omitted) == printed


# -- kustomize_generator_whitebox_test.go ---------------------------------------------------
@pytest.mark.parametrize(
    ("base", "fails", "expected"),
    [
        ("", False, []),
        ("nokustomization/resources", False, ["./configmap.yaml", "./secret.yaml"]),
        ("nokustomization/panic", True, None),
    ],
    ids=["empty directory", "valid manifests", "malformed YAML - panic recovery error"],
)
def test_scan_manifests(base: str, fails: bool, expected: list[str] | None, tmp_path: Path) -> None:
    root = copy(base, tmp_path)
    if fails:
        with pytest.raises(KustomizeError, match=r"failed to decode Kubernetes YAML from alert\.yaml"):
            generated(kustomization("./"), root, tmp_path)
        return
    assert generated(kustomization("./"), root, tmp_path).get("resources", []) == expected


@pytest.mark.parametrize(
    ("base", "ignore", "fails", "expected"),
    [
        ("ignore-tests/basic", None, False, ["./deployment.yaml"]),
        ("ignore-tests/with-sops", None, True, None),
        ("ignore-tests/with-sops", ".sops.yaml", False, ["./deployment.yaml"]),
        ("ignore-tests/with-gitlab-ci", None, True, None),
        ("ignore-tests/with-gitlab-ci", ".gitlab-ci.yml", False, ["./deployment.yaml"]),
    ],
    ids=[
        "basic directory - no ignore patterns",
        "with .sops.yaml - no ignore patterns (should fail)",
        "with .sops.yaml - ignore .sops.yaml",
        "with .gitlab-ci.yml - no ignore patterns (should fail)",
        "with .gitlab-ci.yml - ignore .gitlab-ci.yml",
    ],
)
def test_scan_manifests_with_ignore_patterns(
    base: str, ignore: str | None, fails: bool, expected: list[str] | None, tmp_path: Path
) -> None:
    root = copy(base, tmp_path)
    options = {} if ignore is None else {"ignore": [ignore]}
    if fails:
        with pytest.raises(KustomizeError, match="failed to decode Kubernetes YAML"):
            generated(kustomization("./"), root, tmp_path, **options)
        return
    assert generated(kustomization("./"), root, tmp_path, **options)["resources"] == expected


# -- openapi (kustomize_generator_test.go TestOpenAPI*) --------------------------------------
NODE_EXPORTER_PATCH = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: monitoring-prometheus-node-exporter
spec:
  template:
    spec:
      containers:
      - name: node-exporter
        volumeMounts:
        - name: root
          mountPropagation: None
"""
NODE_EXPORTER = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: monitoring-prometheus-node-exporter
spec:
  selector:
    matchLabels:
      app: node-exporter
  template:
    metadata:
      labels:
        app: node-exporter
    spec:
      containers:
      - name: node-exporter
        image: quay.io/prometheus/node-exporter:v1.10.2
        volumeMounts:
        - name: root
          mountPath: /host/root
      volumes:
      - name: root
        hostPath:
          path: /
"""
CUSTOM_SCHEMA = (
    '{"swagger": "2.0", "info": {"title": "Custom schema", "version": "v1"}, "paths": {}, "definitions": {}}'
)


def node_exporter_fixture(root: Path, openapi_path: str) -> Path:
    kfile = {
        "resources": ["daemonset.yaml"],
        "openapi": {"path": openapi_path},
        "patches": [
            {
                "patch": NODE_EXPORTER_PATCH,
                "target": {
                    "group": "apps",
                    "kind": "DaemonSet",
                    "name": "monitoring-prometheus-node-exporter",
                },
            }
        ],
    }
    files = {"kustomization.yaml": yaml.safe_dump(kfile), "custom-openapi.json": CUSTOM_SCHEMA}
    return write_tree(root, {**files, "daemonset.yaml": NODE_EXPORTER})


def test_openapi_pollution(tmp_path: Path, store: RenderStore, sandbox: Any, sandbox_namespace: str) -> None:
    """A Deployment-only custom schema neither breaks its own build nor a later StatefulSet build."""
    (deployment,) = objects(
        render(kustomization("./"), copy("openapiPollution/pollutor", tmp_path), store=store).read()
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:latest" and container["resources"]["requests"]["memory"] == "64Mi"
    victim = copy("openapiPollution/victim", tmp_path / "victim")
    (statefulset,) = objects(render(kustomization("./"), victim, store=store).read())
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "busybox:latest" and container["resources"]["requests"]["memory"] == "64Mi"


def test_openapi_path_merges_builtins(
    tmp_path: Path, store: RenderStore, sandbox: Any, sandbox_namespace: str
) -> None:
    root = node_exporter_fixture(tmp_path / "src", "custom-openapi.json")
    (daemonset,) = objects(render(kustomization("./"), root, store=store).read())
    container = daemonset["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "quay.io/prometheus/node-exporter:v1.10.2"
    assert container["volumeMounts"] == []
    assert (root / "custom-openapi.json").read_text() == CUSTOM_SCHEMA  # the source is untouched
    cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
    daemonset["metadata"]["namespace"] = sandbox_namespace
    assert cluster.apply(daemonset, dry_run=True)["kind"] == "DaemonSet"  # the API server takes it


def test_openapi_path_http_url_merges_builtins(tmp_path: Path, store: RenderStore) -> None:
    """Deliberate difference: a schema URL is refused (kustomize would fetch it from the worker);
    the same schema as a file of the repository merges as above."""
    root = node_exporter_fixture(tmp_path / "src", "http://127.0.0.1:9/custom-openapi.json")
    with pytest.raises(
        KustomizeError, match=r"openapi\.path 'http://127\.0\.0\.1:9/custom-openapi\.json' must be a file"
    ):
        render(kustomization("./"), root, store=store)
