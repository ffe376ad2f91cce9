"""Commit message templates render as Flux's Go text/template rendered them."""

from __future__ import annotations

import pytest

from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.setters import UpdateResult, set_text
from airflow_flux_provider.images.template import (
    DEFAULT_MESSAGE,
    NamespacedName,
    TemplateError,
    render,
    template_data,
)
from tests.seed import image_automation_parts

AUTOMATION = NamespacedName("flux-system", "ml-training")


def _seed_result() -> UpdateResult:
    _, deployment = image_automation_parts()
    policies = {"flux-system:ml-training": PolicyResult("ghcr.io/company/ml-training", "v1.3.0")}
    return set_text(deployment, policies, "deployment.yaml")[1]


def test_seed_template_renders_exactly_as_flux_did() -> None:
    template, _ = image_automation_parts()
    message = render(template, template_data(AUTOMATION, _seed_result(), legacy=True))
    # `-}}` after each range eats the blank line before "Images:" and the final newline
    assert message == (
        "Update ML training image\n"
        "\n"
        "Automation name: flux-system/ml-training\n"
        "\n"
        "Files:\n"
        "- deployment.yaml\n"
        "Images:\n"
        "- ghcr.io/company/ml-training:v1.3.0\n"
    )


def test_seed_template_refused_for_v1_data() -> None:
    template, _ = image_automation_parts()
    with pytest.raises(
        TemplateError, match=r"template uses removed '\.Updated' field\. Please use '\.Changed'"
    ):
        render(template, template_data(AUTOMATION, _seed_result(), legacy=False))


def _two_file_result() -> UpdateResult:
    app = PolicyResult("ghcr.io/org/app", "2.0.0")
    text = (
        "kind: Deployment\nmetadata:\n  name: web\nspec:\n"
        '  image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "ns:app"}\n'
    )
    tag = (
        "kind: Kustomization\nmetadata:\n  name: k\nimages:\n"
        '- newTag: 1.0.0 # {"$imagepolicy": "ns:app:tag"}\n'
    )
    result = UpdateResult()
    for name, body in (("b/web.yaml", text), ("a/kustomization.yaml", tag)):
        result.changes += set_text(body, {"ns:app": app}, name)[1].changes
    return result


OBJECTS_IN_GO_ORDER = "{{{ Deployment} {web }}} {{{ Kustomization} {k }}} "
FILE_CHANGES = (
    "map[a/kustomization.yaml:map[{{{ Kustomization} {k }}}:[{1.0.0 2.0.0 ns:app:tag}]] "
    "b/web.yaml:map[{{{ Deployment} {web }}}:[{ghcr.io/org/app:1.0.0 ghcr.io/org/app:2.0.0 ns:app}]]]"
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "{{ range $file, $objs := .Changed.FileChanges }}{{ $file }};{{ end }}",
            "a/kustomization.yaml;b/web.yaml;",
        ),
        (
            "{{ range $obj, $changes := .Changed.Objects -}}\n{{ $obj.Kind }}/{{ $obj.Name }}:"
            "{{ range $changes }} {{ .OldValue }}->{{ .NewValue }}{{ end }}\n{{ end }}",
            # Go ranges over struct keys field by field (APIVersion, then Kind, Name, Namespace)
            "Deployment/web: ghcr.io/org/app:1.0.0->ghcr.io/org/app:2.0.0\nKustomization/k: 1.0.0->2.0.0\n",
        ),
        ("{{ range $obj, $_ := .Changed.Objects }}{{ $obj }} {{ end }}", OBJECTS_IN_GO_ORDER),
        ("{{ .Changed.FileChanges | toString }}", FILE_CHANGES),
        ("{{ range .Changed.Changes }}{{ .Setter }} {{ end }}", "ns:app:tag ns:app "),
        ("{{ len .Changed.Changes }} change(s)", "2 change(s)"),
        ('{{ .Values.env }}/{{ .Values.missing }}/{{ index .Values "missing" }}', "prod/<no value>/"),
        ('{{ index .Changed.FileChanges "missing" }}', "map[]"),  # the zero value of a map type
        ('{{ len (index .Changed.FileChanges "missing") }}', "0"),
        ('{{ if eq .Values.env "dev" }}dev{{ else if eq .Values.env "prod" }}P{{ else }}?{{ end }}', "P"),
        ("{{ with .Values.none }}x{{ else with .Values.env }}[{{ . }}]{{ end }}", "[prod]"),
        (
            '{{ printf "%s/%s" .AutomationObject.Namespace .AutomationObject.Name }}',
            "flux-system/ml-training",
        ),
        (
            '{{ .AutomationObject | printf "%v|%s" .AutomationObject }}',
            "flux-system/ml-training|flux-system/ml-training",
        ),
        ("{{ $n := len .Changed.Changes }}{{ $n = add $n 1 }}{{ $n }}", "3"),
        (
            "{{ .Changed.Changes | toJson }}",
            '[{"NewValue":"2.0.0","OldValue":"1.0.0","Setter":"ns:app:tag"},'
            '{"NewValue":"ghcr.io/org/app:2.0.0","OldValue":"ghcr.io/org/app:1.0.0","Setter":"ns:app"}]',
        ),
        ("{{ range $i, $img := .Updated.Images }}{{ $i }}={{ $img }} {{ end }}", "0=ghcr.io/org/app:2.0.0 "),
        (
            "{{ range .Updated.Images }}{{ .Repository }}@{{ .Registry }}:{{ .Identifier }}{{ end }}",
            "org/app@ghcr.io:2.0.0",
        ),
        ("", DEFAULT_MESSAGE),
    ],
)
def test_template_data_as_flux_gives_it(template: str, expected: str) -> None:
    data = template_data(AUTOMATION, _two_file_result(), {"env": "prod"}, legacy=True)
    assert render(template, data) == expected


@pytest.mark.parametrize(
    ("template", "needle"),
    [
        ("{{ range .Changed.Changes }}", "template: commit message:1: unexpected EOF"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ .Nope }}", "can't evaluate field Nope in type source.TemplateData"),
        ("{{ .Changed.ImageResult.Files }}", "template uses removed '.Changed.ImageResult' field"),
        ("{{ .Values", "unclosed action"),
        ('{{ template "x" }}', 'no such template "x"'),
        ("{{ $undefined }}", 'undefined variable "$undefined"'),
        ("{{ .Values @ }}", "unexpected '@' in command"),
        ("{{ range .AutomationObject }}{{ end }}", "range can't iterate over flux-system/ml-training"),
        ('{{ hasKey .Values "env" }}', "expected map[string]interface {}; got map[string]string"),
        ('{{ env "HOME" }}', 'function "env" not defined'),  # non-hermetic: not in Flux's map
        ('{{ genPrivateKey "rsa" }}', "genPrivateKey is not available in commit messages here"),
        ("{{ .AutomationObject.namespace }}", "can't evaluate field namespace"),  # unexported in Go
    ],
)
def test_broken_templates_fail_as_go_does(template: str, needle: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, template_data(AUTOMATION, UpdateResult(), legacy=False))
    assert needle in str(info.value)
    assert str(info.value).startswith("field spec.git.commit.messageTemplate: ")


def _same_object_in_two_files() -> UpdateResult:
    """One Deployment (same identity) in two files, each with a Docker Hub image (digest) and a GHCR one."""
    policies = {
        "apps:nginx": PolicyResult("docker.io/library/nginx", "1.27", "sha256:" + "b" * 8),
        "apps:app": PolicyResult("ghcr.io/org/app", "2.0.0"),
    }
    doc = (
        "kind: Deployment\nmetadata:\n  name: web\nspec:\n"
        '  a: nginx:1.0 # {"$imagepolicy": "apps:nginx"}\n'
        '  b: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "apps:app"}\n'
    )
    result = UpdateResult()
    for file in ("b.yaml", "a.yaml"):
        result.changes += set_text(doc, policies, file)[1].changes
    return result


NGINX = "docker.io/library/nginx:1.27@sha256:bbbbbbbb"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # objects merge across files; changes and images are listed once each, in file order
        ("{{ range $o, $c := .Changed.Objects }}{{ $o.Name }}:{{ len $c }} {{ end }}", "web:4 "),
        (
            "{{ range .Changed.Changes }}{{ . }};{{ end }}",
            f"{{nginx:1.0 {NGINX} apps:nginx}};{{ghcr.io/org/app:1.0.0 ghcr.io/org/app:2.0.0 apps:app}};",
        ),
        ("{{ range $o, $refs := .Updated.Objects }}{{ $o.Name }}:{{ len $refs }} {{ end }}", "web:4 "),
        ("{{ range $f, $_ := .Updated.Files }}{{ $f }} {{ end }}", "a.yaml b.yaml "),
        (
            "{{ range .Updated.Images }}{{ . }}|{{ .Identifier }}|{{ .Name }}|{{ .Registry }}|"
            "{{ .Repository }}|{{ .Policy }};{{ end }}",
            f"{NGINX}|sha256:bbbbbbbb|docker.io/library/nginx|index.docker.io|library/nginx|apps/nginx;"
            "ghcr.io/org/app:2.0.0|2.0.0|ghcr.io/org/app|ghcr.io|org/app|apps/app;",
        ),
        ('{{ index .Values "nope" }}|{{ .AutomationObject }}', "|apps/auto"),
    ],
)
def test_changes_across_files_as_flux_lists_them(template: str, expected: str) -> None:
    data = template_data(
        NamespacedName("apps", "auto"), _same_object_in_two_files(), {"env": "x"}, legacy=True
    )
    assert render(template, data) == expected


@pytest.mark.parametrize(
    ("template", "legacy", "message"),
    [
        (
            "{{ .Changed.ImageResult }}",
            True,
            "field spec.git.commit.messageTemplate: template uses removed '.Changed.ImageResult' field. "
            "Please use '.Changed.FileChanges' or '.Changed.Objects' instead. See: https://fluxcd.io/",
        ),
        (
            "{{ .Updated }}",
            False,
            "field spec.git.commit.messageTemplate: template uses removed '.Updated' field. "
            "Please use '.Changed' instead. See: https://fluxcd.io/",
        ),
    ],
)
def test_removed_fields_fail_with_flux_wording(template: str, legacy: bool, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, template_data(AUTOMATION, UpdateResult(), legacy=legacy))
    assert str(info.value).startswith(message)
    assert str(info.value).endswith("/imageupdateautomations/#message-template")  # the anchor is kept
    assert info.value.field == "spec.git.commit.messageTemplate"


def test_empty_template_is_flux_default_message() -> None:
    data = template_data(AUTOMATION, UpdateResult(), legacy=False)
    assert render(None, data) == render("", data) == "Update from image update automation"


@pytest.mark.parametrize(
    ("template", "go_type"),
    [
        ("{{ .AutomationObject.Nope }}", "types.NamespacedName"),
        ("{{ .Changed.Nope }}", "update.Result"),
        ("{{ range .Changed.Changes }}{{ .Nope }}{{ end }}", "update.Change"),
        ("{{ range $o, $c := .Changed.Objects }}{{ $o.Nope }}{{ end }}", "update.ObjectIdentifier"),
        ("{{ range .Updated.Images }}{{ .Nope }}{{ end }}", "update.imageRef"),
    ],
)
def test_unknown_fields_name_flux_go_types(template: str, go_type: str) -> None:
    data = template_data(NamespacedName("apps", "auto"), _same_object_in_two_files(), legacy=True)
    with pytest.raises(TemplateError) as info:
        render(template, data)
    assert str(info.value).endswith(f"can't evaluate field Nope in type {go_type}")
