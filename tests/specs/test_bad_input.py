"""Bad input (issue 2): each kind of mistake gives one clear SpecError naming file, object, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.specs import SpecError, load_manifests, parse_object
from airflow_flux_provider.specs.errors import shown

GIT_REPOSITORY = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: app
  namespace: flux-system
spec:
  interval: 1m
  url: https://example.com/app.git
  ref:
    semver: ">=1.0.0"
"""


def _error_from_file(tmp_path: Path, text: str, name: str = "app.yaml") -> SpecError:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_manifests(path)
    assert isinstance(info.value, FluxError)
    return info.value


def test_wrong_type_names_file_object_field_and_fix(tmp_path: Path) -> None:
    error = _error_from_file(tmp_path, GIT_REPOSITORY.replace('">=1.0.0"', "1.2"))
    assert str(error) == (
        f"{tmp_path / 'app.yaml'}: GitRepository/flux-system/app field spec.ref.semver (line 10): "
        'expected a string, got float 1.2; quote it ("1.2")'
    )
    assert error.obj == "GitRepository/flux-system/app"
    assert error.field == "spec.ref.semver"
    assert error.source == str(tmp_path / "app.yaml")


def test_quoted_bool_is_a_wrong_type() -> None:
    text = GIT_REPOSITORY + "  suspend: 'true'\n"
    with pytest.raises(SpecError) as info:
        load_manifests(text)
    assert str(info.value) == (
        "GitRepository/flux-system/app field spec.suspend (line 11): "
        "expected true or false, got str 'true' (write true or false without quotes)"
    )


def test_unknown_kind_suggests_the_right_one(tmp_path: Path) -> None:
    error = _error_from_file(tmp_path, GIT_REPOSITORY.replace("kind: GitRepository", "kind: GitRepo"))
    assert str(error) == (
        f"{tmp_path / 'app.yaml'}: GitRepo/flux-system/app field kind (line 2): unknown kind 'GitRepo' for "
        "source.toolkit.fluxcd.io (did you mean 'GitRepository'?); expected one of Bucket, GitRepository, "
        "HelmChart, HelmRepository, OCIRepository"
    )


def test_unknown_api_version_lists_the_served_ones(tmp_path: Path) -> None:
    error = _error_from_file(tmp_path, GIT_REPOSITORY.replace("fluxcd.io/v1", "fluxcd.io/v2"))
    assert str(error) == (
        f"{tmp_path / 'app.yaml'}: GitRepository/flux-system/app field apiVersion (line 1): "
        "unknown apiVersion 'source.toolkit.fluxcd.io/v2' for kind GitRepository; "
        "expected one of source.toolkit.fluxcd.io/v1, source.toolkit.fluxcd.io/v1beta2, "
        "source.toolkit.fluxcd.io/v1beta1"
    )


@pytest.mark.parametrize(
    ("api_version", "group"),
    [
        ("sources.toolkit.fluxcd.io/v1", "'sources.toolkit.fluxcd.io'"),
        ("source.toolkit.flux.io/v1", "'source.toolkit.flux.io'"),
        ("v1", "'(core)'"),
    ],
)
def test_misspelt_api_group_is_caught(api_version: str, group: str) -> None:
    with pytest.raises(SpecError) as info:
        load_manifests(GIT_REPOSITORY.replace("source.toolkit.fluxcd.io/v1", api_version))
    assert info.value.field == "apiVersion"
    assert str(info.value).endswith(
        f"unknown API group {group} for kind GitRepository; expected apiVersion: source.toolkit.fluxcd.io/v1"
    )


def test_unknown_kind_in_a_misspelt_group_suggests_the_group() -> None:
    with pytest.raises(SpecError, match=r"for kind Widget; expected one of .* \(did you mean 'helm\.toolkit"):
        load_manifests("apiVersion: helm.toolkit.fluxcd.oi/v2\nkind: Widget\nmetadata: {name: w}\n")


@pytest.mark.parametrize(
    "api_version_and_kind",
    [
        "fluxcd.controlplane.io/v1/FluxInstance",  # another Flux project's group
        "source.toolkit.fluxcd.io/v1/ExternalArtifact",  # a Flux kind this provider does not model
        "kustomize.config.k8s.io/v1beta1/Kustomization",  # kustomize's own file
        "pkg.crossplane.io/v1/Provider",  # another project's kind of the same name
    ],
)
def test_objects_that_are_not_modelled_pass_through(api_version_and_kind: str) -> None:
    api_version, _, kind = api_version_and_kind.rpartition("/")
    (obj,) = load_manifests(
        f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: a}}\nspec: {{x: 1}}\n"
    )
    assert type(obj).__name__ == "KubernetesObject"
    assert obj.spec == {"x": 1}


def test_a_version_that_does_not_exist_for_that_kind() -> None:
    text = """\
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Alert
metadata: {name: a, namespace: flux-system}
spec: {providerRef: {name: slack}, eventSources: [{kind: Kustomization, name: '*'}]}
"""
    with pytest.raises(
        SpecError, match=r"unknown apiVersion 'notification.toolkit.fluxcd.io/v1' for kind Alert"
    ):
        load_manifests(text)


def test_bad_duration(tmp_path: Path) -> None:
    error = _error_from_file(tmp_path, GIT_REPOSITORY.replace("interval: 1m", "interval: 5 minutes"))
    assert str(error) == (
        f"{tmp_path / 'app.yaml'}: GitRepository/flux-system/app field spec.interval (line 7): "
        "invalid duration '5 minutes' (not a duration); "
        "expected a Go duration such as 30s, 5m, 1h30m, 1.5h or 500ms (units ms, s, m, h)"
    )


def test_missing_required_field(tmp_path: Path) -> None:
    text = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  sourceRef:
    kind: GitRepository
    name: app
"""
    error = _error_from_file(tmp_path, text, "apps.yaml")
    assert str(error) == (
        f"{tmp_path / 'apps.yaml'}: Kustomization/flux-system/apps field spec.prune (line 7): "
        "required field 'prune' is missing; add it under spec"
    )


def test_missing_interval_on_a_source() -> None:
    with pytest.raises(SpecError) as info:
        load_manifests(GIT_REPOSITORY.replace("  interval: 1m\n", ""))
    assert "field spec.interval (line 7): required field 'interval' is missing; add it under spec" in str(
        info.value
    )


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    error = _error_from_file(tmp_path, GIT_REPOSITORY.replace("  url: https", "  url: [https"))
    assert str(error).startswith(f"{tmp_path / 'app.yaml'}: line 9: YAML syntax error: ")
    assert "check the indentation and quoting around that line" in str(error)
    assert error.line == 9


def test_yaml_syntax_error_in_text_has_a_line() -> None:
    with pytest.raises(SpecError) as info:
        load_manifests("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n b: c\n")
    assert str(info.value).startswith("line ")
    assert "YAML syntax error" in str(info.value)


def test_unknown_field_is_rejected_with_a_suggestion() -> None:
    with pytest.raises(SpecError) as info:
        load_manifests(GIT_REPOSITORY + "  intervall: 5m\n")
    assert str(info.value) == (
        "GitRepository/flux-system/app field spec.intervall (line 11): unknown field 'intervall' "
        "(did you mean 'interval'?); Flux would reject it, so remove it or fix its spelling"
    )


def test_unknown_nested_field_suggests_from_the_nested_model() -> None:
    with pytest.raises(SpecError) as info:
        load_manifests(GIT_REPOSITORY.replace("    semver:", "    semvr:"))
    assert "field spec.ref.semvr (line 10): unknown field 'semvr' (did you mean 'semver'?)" in str(info.value)


def test_enum_value_lists_the_allowed_ones() -> None:
    with pytest.raises(SpecError) as info:
        load_manifests(GIT_REPOSITORY + "  provider: gitlab\n")
    assert (
        "field spec.provider (line 11): 'gitlab' is not allowed; "
        "expected 'generic', 'aws', 'azure' or 'github'" in str(info.value)
    )


def test_several_problems_give_one_error_listing_each_once() -> None:
    text = GIT_REPOSITORY.replace("interval: 1m", "interval: soon").replace('">=1.0.0"', "[1]")
    with pytest.raises(SpecError) as info:
        load_manifests(text + "  bogus: 1\n")
    message = str(info.value)
    assert message.splitlines() == [
        "GitRepository/flux-system/app: 3 problems:",
        "  - field spec.interval (line 7): invalid duration 'soon' (not a duration); expected a Go duration "
        "such as 30s, 5m, 1h30m, 1.5h or 500ms (units ms, s, m, h)",
        "  - field spec.ref.semver (line 10): expected a string, got a list",
        "  - field spec.bogus (line 11): unknown field 'bogus'; Flux would reject it, "
        "so remove it or fix its spelling",
    ]
    assert [p.field for p in info.value.problems] == ["spec.interval", "spec.ref.semver", "spec.bogus"]


def test_missing_api_version_and_kind() -> None:
    with pytest.raises(SpecError) as info:
        load_manifests("metadata: {name: x}\nspec: {interval: 1m}\n")
    assert str(info.value) == (
        "<no kind>/default/x field apiVersion (line 1): apiVersion is missing or not a string; "
        "every manifest needs apiVersion and kind "
        "(e.g. apiVersion: source.toolkit.fluxcd.io/v1, kind: GitRepository)"
    )


def test_a_document_that_is_not_a_mapping() -> None:
    with pytest.raises(SpecError, match=r"^line 1: expected a Kubernetes object .*got a list$"):
        load_manifests("- a\n- b\n")


def test_missing_name() -> None:
    with pytest.raises(SpecError) as info:
        load_manifests(GIT_REPOSITORY.replace("  name: app\n", ""))
    assert str(info.value) == (
        "GitRepository/flux-system/<unnamed> field metadata.name (line 4): required field 'name' is missing; "
        "add it under metadata"
    )


def test_errors_in_a_folder_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GIT_REPOSITORY)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text("---\n" + GIT_REPOSITORY.replace("interval: 1m", "interval: 1"))
    with pytest.raises(SpecError) as info:
        load_manifests(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'sub' / 'b.yml'}: GitRepository/flux-system/app field spec.interval (line 8): "
        "got int 1; expected a Go duration such as 30s, 5m, 1h30m, 1.5h or 500ms (units ms, s, m, h), "
        "written as a string"
    )
    assert info.value.source == str(tmp_path / "sub" / "b.yml")


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"no such file or folder: .*nope\.yaml; give a YAML file"):
        load_manifests(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match=r"no such file or folder"):
        load_manifests(str(tmp_path / "nope.yaml"))


def test_source_names_the_caller_for_inline_objects() -> None:
    data = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "web"}}
    with pytest.raises(SpecError) as info:
        parse_object(data, source="task 'deploy'")
    assert str(info.value) == (
        "task 'deploy': HelmRelease/default/web field spec: required field 'spec' is missing; "
        "add it under the top level"
    )


def test_rules_between_fields_are_reported_on_the_owner() -> None:
    text = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: apps}
spec:
  interval: 5m
"""
    with pytest.raises(SpecError) as info:
        load_manifests(text)
    assert str(info.value) == (
        "HelmRelease/apps/web field spec (line 5): exactly one of spec.chart (a chart from a "
        "HelmRepository/GitRepository/Bucket) or spec.chartRef (an OCIRepository/HelmChart) must be set"
    )


def test_no_secret_appears_in_messages() -> None:
    text = """\
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: slack, namespace: flux-system}
spec:
  type: slack
  proxy: socks5://user:hunter2@proxy.internal:1080/
"""
    with pytest.raises(SpecError) as info:
        load_manifests(text)
    assert "hunter2" not in str(info.value) and "user" not in str(info.value)
    assert "'socks5://proxy.internal:1080/…' does not match the required pattern" in str(info.value)


def test_bad_variable_name_in_post_build() -> None:
    data = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {
            "interval": "10m",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "app"},
            "postBuild": {"substitute": {"cluster-name": "prod"}},
        },
    }
    with pytest.raises(SpecError) as info:
        parse_object(data)
    assert str(info.value) == (
        "Kustomization/default/apps field spec.postBuild.substitute: variable name 'cluster-name' is not "
        "valid: use letters, digits and '_', not starting with a digit (e.g. CLUSTER_NAME)"
    )


def test_unsubstituted_post_build_variables_are_named_as_such() -> None:
    text = """\
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: slack, namespace: flux-system}
spec:
  type: slack
  timeout: ${NOTIFY_TIMEOUT:=30s}
  proxy: ${PROXY:=socks5://user:hunter2@proxy.internal:1080}
"""
    with pytest.raises(SpecError) as info:
        load_manifests(text)
    message = str(info.value)
    assert "field spec.timeout (line 6): invalid duration '${NOTIFY_TIMEOUT:=30s}'" in message
    assert "'${PROXY:=socks5://proxy.internal:1080/…}' does not match" in message
    assert message.count("the value is a post-build variable: validate the manifests after substitution") == 2
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("metadata", "field", "expected"),
    [
        ({"name": "ML_Gitops"}, "metadata.name", "name 'ML_Gitops' is not a valid Kubernetes name"),
        ({"name": "app-"}, "metadata.name", "name 'app-' is not a valid Kubernetes name"),
        (
            {"name": "app", "namespace": "flux.system"},
            "metadata.namespace",
            "is not a valid Kubernetes namespace",
        ),
    ],
)
def test_object_names_follow_kubernetes_rules(metadata: dict[str, str], field: str, expected: str) -> None:
    data = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": metadata,
        "spec": {"url": "https://example.com/app.git", "interval": "1m"},
    }
    with pytest.raises(SpecError) as info:
        parse_object(data)
    assert info.value.field == field
    assert expected in str(info.value)


def test_misspelt_metadata_field() -> None:
    with pytest.raises(SpecError) as info:
        load_manifests(
            GIT_REPOSITORY.replace("  namespace: flux-system\n", "  namespace: flux-system\n  labls: {}\n")
        )
    assert "field metadata.labls (line 6): unknown field 'labls' (did you mean 'labels'?)" in str(info.value)


def test_missing_kind() -> None:
    with pytest.raises(SpecError) as info:
        load_manifests("apiVersion: source.toolkit.fluxcd.io/v1\nmetadata: {name: x}\n")
    assert info.value.field == "kind"
    assert str(info.value).startswith(
        "<no kind>/default/x field kind (line 1): kind is missing or not a string"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "git@github.com:org/app.git",
            "url 'git@github.com:org/app.git' is not a Git URL Flux accepts: "
            "the scp-like form is not accepted; write 'ssh://git@github.com/…'",
        ),
        ("ftp://example.com/app", "url 'ftp://example.com/…' is not a Git URL Flux accepts: use an http://"),
    ],
)
def test_git_url_forms(url: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        load_manifests(GIT_REPOSITORY.replace("https://example.com/app.git", url))
    assert info.value.field == "spec.url"
    assert expected in str(info.value)


def test_credentials_in_an_scp_like_url_are_hidden() -> None:
    with pytest.raises(SpecError) as info:
        load_manifests(GIT_REPOSITORY.replace("https://example.com/app.git", "bot:s3cr3t@host:org/app"))
    assert "s3cr3t" not in str(info.value)
    assert "url '***@host:org/app' is not a Git URL Flux accepts" in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://ghp_token123@github.com/org/app.git", "'https://github.com/…'"),
        ("https://user:pw@charts.example.com", "'https://charts.example.com/…'"),
        ("https://hooks.slack.com/services/T0/B0/XYZ", "'https://hooks.slack.com/…'"),
        ("ssh://git@github.com:22/org/app.git", "'ssh://git@github.com:22/…'"),
        ("${URL:=https://hooks.slack.com/services/T0/B0/XYZ}", "'${URL:=https://hooks.slack.com/…}'"),
        ("not a url", "'not a url'"),
        (42, "42"),
    ],
)
def test_quoted_values_never_carry_credentials(value: object, expected: str) -> None:
    assert shown(value) == expected


def test_a_misspelt_required_field_is_one_problem() -> None:
    text = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 5m
  sourceRef: {kind: GitRepository, name: app}
  prun: true
"""
    with pytest.raises(SpecError) as info:
        load_manifests(text)
    assert str(info.value) == (
        "Kustomization/flux-system/apps field spec.prun (line 7): "
        "unknown field 'prun': did you mean 'prune'? It is required; fix the spelling"
    )


def test_errors_inside_lists_point_at_the_item_line() -> None:
    text = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 5m
  prune: true
  sourceRef: {kind: GitRepository, name: app}
  healthChecks:
    - kind: Deployment
      name: web
    - kind: Deployment
      name: api
      nmespace: apps
"""
    with pytest.raises(SpecError) as info:
        load_manifests(text)
    assert str(info.value) == (
        "Kustomization/flux-system/apps field spec.healthChecks[1].nmespace (line 13): unknown field "
        "'nmespace' (did you mean 'namespace'?); Flux would reject it, so remove it or fix its spelling"
    )


def test_a_mapping_where_a_string_belongs() -> None:
    with pytest.raises(SpecError) as info:
        load_manifests(GIT_REPOSITORY.replace("url: https://example.com/app.git", "url: {host: example.com}"))
    assert "field spec.url (line 8): expected a string, got a mapping" in str(info.value)


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    error = _error_from_file(
        tmp_path, GIT_REPOSITORY.replace("  interval: 1m\n", "  interval: 1m\n  interval: 10m\n")
    )
    assert str(error) == (
        f"{tmp_path / 'app.yaml'}: line 8: duplicate key 'interval' (first at line 7); "
        "YAML would keep only the last one: remove one of them"
    )
