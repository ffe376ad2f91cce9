"""image-automation-controller commit templates (internal/source tests and the documented examples).

Replays TestTemplateMsgAggregatesObjectChangesAcrossFiles, the template cases of
TestSourceManager_CommitAndPush (the message read back from the pushed commit, byte for
byte: go-git adds no newline) and the examples in the ImageUpdateAutomation docs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.images.commit import Automation, update_and_push
from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.setters import Change, ObjectId, UpdateResult
from airflow_flux_provider.images.template import (
    DEFAULT_MESSAGE,
    NamespacedName,
    TemplateError,
    render,
    template_data,
)
from flux_devkit.services.git_http import GitServer

RESULT_V2 = """\
Commit summary with ResultV2

Automation: {{ .AutomationObject }}

{{ range $filename, $objchange := .Changed.FileChanges -}}
- File: {{ $filename }}
{{- range $obj, $changes := $objchange }}
  - Object: {{ $obj.Kind }}/{{ $obj.Namespace }}/{{ $obj.Name }}
    Changes:
{{- range $_ , $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
{{ end -}}
"""
WITH_VALUES = """\
Commit summary

Automation: {{ .AutomationObject }}

Cluster: {{ index .Values "cluster" }}
Testing: {{ .Values.testing }}
"""
REMOVED = """\
Commit summary

Automation: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Updated.Files -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $_ := .Updated.Objects -}}
{{ if eq $resource.Kind "Deployment" -}}
- {{ $resource.Kind | lower }} {{ $resource.Name | lower }}
{{ else -}}
- {{ $resource.Kind }} {{ $resource.Name }}
{{ end -}}
{{ end -}}

Images:
{{ range .Updated.Images -}}
- {{.}} ({{.Policy.Name}})
{{ end -}}
"""
IMAGE_RESULT = """\
Commit summary

Automation: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.ImageResult.Files -}}
- {{ $filename }}
{{ end -}}
"""
DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: test
spec:
  template:
    spec:
      containers:
      - name: hello
        image: helloworld:1.0.0 # {"$imagepolicy": "test-ns:policy"}
"""
AUTOMATION = NamespacedName("test-ns", "test-update")
PODINFO = ObjectId("apps/v1", "Deployment", "podinfo", "default")


def _result(*changes: tuple[str, ObjectId, str, str, str]) -> UpdateResult:
    image = PolicyResult("x", "y")
    return UpdateResult(
        [Change(f, n, o, s, old, new, image) for n, (f, o, old, new, s) in enumerate(changes)]
    )


def test_template_msg_aggregates_object_changes_across_files() -> None:
    result = _result(
        ("base/deployment.yaml", PODINFO, "podinfo:v1.0.0", "podinfo:v1.0.1", "flux-system:podinfo"),
        ("overlays/prod/deployment.yaml", PODINFO, "1", "2", "flux-system:replicas"),
    )
    message = render(RESULT_V2, template_data(NamespacedName("flux-system", "podinfo"), result, legacy=False))
    assert "- podinfo:v1.0.0 -> podinfo:v1.0.1" in message
    assert "- 1 -> 2" in message


COMMIT_AND_PUSH = {
    "commit with update ResultV2 template": (
        RESULT_V2,
        {},
        "Commit summary with ResultV2\n\nAutomation: test-ns/test-update\n\n- File: deploy.yaml\n"
        "  - Object: Deployment//test\n    Changes:\n    - helloworld:1.0.0 -> helloworld:1.0.1\n",
    ),
    "push to cloned branch with template and values": (
        WITH_VALUES,
        {"cluster": "prod", "testing": "value"},
        "Commit summary\n\nAutomation: test-ns/test-update\n\nCluster: prod\nTesting: value\n",
    ),
    "push to different branch (default message)": (None, {}, DEFAULT_MESSAGE),
}


@pytest.mark.parametrize(
    ("template", "values", "expected"), COMMIT_AND_PUSH.values(), ids=COMMIT_AND_PUSH.keys()
)
def test_source_manager_commit_and_push(
    git_server: GitServer, tmp_path: Path, template: str | None, values: dict[str, str], expected: str
) -> None:
    name = f"tmpl-{len(git_server.url)}-{abs(hash(expected)) % 10**8}"
    url = git_server.create_repo(name, {"deploy.yaml": DEPLOY})
    automation = Automation(
        name=AUTOMATION,
        url=url,
        message_template=template,
        template_values=values,
        author_email="flux@example.com",
    )
    creds = Credentials(username=git_server.username, password=git_server.password)
    done = update_and_push(
        automation, {"test-ns:policy": PolicyResult("helloworld", "1.0.1")}, credentials=creds
    )
    assert done.message == expected
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", git_server.auth_url(name), str(clone)], check=True)
    raw = subprocess.run(
        ["git", "cat-file", "commit", "HEAD"], cwd=clone, check=True, capture_output=True
    ).stdout
    assert raw.decode().split("\n\n", 1)[1] == expected  # the commit object holds the message as rendered


@pytest.mark.parametrize(
    ("template", "field"),
    [
        (REMOVED, "'.Updated' field. Please use '.Changed' instead."),
        (IMAGE_RESULT, "'.Changed.ImageResult' field"),
    ],
    ids=[
        "push to cloned branch with removed template field",
        "push to cloned branch with removed ImageResult field",
    ],
)
def test_removed_template_fields(template: str, field: str) -> None:
    result = _result(
        ("deploy.yaml", ObjectId("apps/v1", "Deployment", "test", ""), "a", "b", "test-ns:policy")
    )
    with pytest.raises(TemplateError) as info:
        render(template, template_data(AUTOMATION, result, legacy=False))
    assert f"template uses removed {field}" in str(info.value)


DOC_RESULT = _result(
    (
        "deploy.yaml",
        ObjectId("apps/v1", "Deployment", "podinfo", "apps"),
        "podinfo:5.0.0",
        "podinfo:5.0.3",
        "apps:p",
    ),
    ("deploy.yaml", ObjectId("apps/v1", "Deployment", "podinfo", "apps"), "5.0.0", "5.0.3", "apps:p:tag"),
)
DOC_EXAMPLES = {
    "Changed methods": (
        "Automated image update\n\nAutomation name: {{ .AutomationObject }}\n\nFiles:\n"
        "{{ range $filename, $_ := .Changed.FileChanges -}}\n- {{ $filename }}\n{{ end -}}\n\nObjects:\n"
        "{{ range $resource, $changes := .Changed.Objects -}}\n- {{ $resource.Kind }} {{ $resource.Name }}\n"
        "  Changes:\n{{- range $_, $change := $changes }}\n    - {{ $change.OldValue }} -> {{ $"
        "change.NewValue }}\n"
        "{{ end -}}\n{{ end -}}\n",
        # each `-}}` after an end eats the newline that follows, hence no blank line before "Objects:"
        # and one between the two changes, exactly as Go renders this documented example
        "Automated image update\n\nAutomation name: flux-system/auto\n\nFiles:\n- deploy.yaml\nObjects:\n"
        "- Deployment podinfo\n  Changes:\n    - podinfo:5.0.0 -> podinfo:5.0.3\n\n    - 5.0.0 -> 5.0.3\n",
    ),
    "template functions (lower, contains)": (
        "{{ range $resource, $changes := .Changed.Objects -}}\n"
        "- {{ $resource.Kind | lower }} {{ $resource.Name | lower }}\n  Changes:\n"
        '{{- range $_, $change := $changes }}\n  {{ if contains "5.0.3" $change.NewValue -}}\n'
        "    - {{ $change.OldValue }} -> {{ $change.NewValue }}\n  {{ else -}}\n    [skip ci] wrong image\n"
        "  {{ end -}}\n{{ end -}}\n{{ end -}}\n",
        "- deployment podinfo\n  Changes:\n  - podinfo:5.0.0 -> podinfo:5.0.3\n  \n  - 5.0.0 -> 5.0.3\n  ",
    ),
    "Gerrit Change-Id": (
        "Perform automatic image update\n\nAutomation name: {{ .AutomationObject }}\n\n"
        "{{- $ChangeId := .AutomationObject -}}\n"
        '{{- $ChangeId = printf "%s%s" $ChangeId ( .Changed.FileChanges | toString ) -}}\n'
        '{{- $ChangeId = printf "%s%s" $ChangeId ( .Changed.Objects | toString ) -}}\n'
        '{{- $ChangeId = printf "%s%s" $ChangeId ( .Changed.Changes | toString ) }}\n'
        'Change-Id: {{ printf "I%s" ( sha256sum $ChangeId | trunc 40 ) }}\n',
        "CHANGE_ID",
    ),
    "print and println": (
        "{{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}",
        "podinfo:5.0.0 -> podinfo:5.0.3\n5.0.0 -> 5.0.3\n",
    ),
    "Values": (
        "Automated image update by Flux for cluster {{ .Values.cluster }}.",
        "Automated image update by Flux for cluster prod.",
    ),
}


def _change_id() -> str:
    """What the Change-Id example hashes: the automation, then Go's %v of the three maps/lists."""
    import hashlib

    obj = "{{{apps/v1 Deployment} {podinfo apps}}}"
    changes = "[{podinfo:5.0.0 podinfo:5.0.3 apps:p} {5.0.0 5.0.3 apps:p:tag}]"
    text = f"flux-system/automap[deploy.yaml:map[{obj}:{changes}]]map[{obj}:{changes}]{changes}"
    digest = hashlib.sha256(text.encode()).hexdigest()[:40]
    return f"Perform automatic image update\n\nAutomation name: flux-system/auto\nChange-Id: I{digest}\n"


@pytest.mark.parametrize(("template", "expected"), DOC_EXAMPLES.values(), ids=DOC_EXAMPLES.keys())
def test_documented_examples(template: str, expected: str) -> None:
    data = template_data(NamespacedName("flux-system", "auto"), DOC_RESULT, {"cluster": "prod"}, legacy=False)
    assert render(template, data) == (_change_id() if expected == "CHANGE_ID" else expected)
