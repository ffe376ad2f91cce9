"""A folder of image automation objects run together (library and ``image-automation`` CLI)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from airflow_flux_provider.cli import main
from airflow_flux_provider.images.automation import selector_matches
from airflow_flux_provider.specs.refs import LabelSelector
from flux_devkit.services.git_http import GitServer
from flux_devkit.services.registry import OciRegistry

MANIFESTS = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: gitops, namespace: apps}}
spec: {{url: "{url}", interval: 1m, ref: {{branch: main}}}}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {{name: web, namespace: apps}}
spec: {{image: "{host}/folder/web", interval: 1m, insecure: true}}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {{name: web, namespace: apps, labels: {{auto: "yes"}}}}
spec: {{imageRepositoryRef: {{name: web}}, policy: {{semver: {{range: ">=1.0.0"}}}}}}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {{name: web-pinned, namespace: apps}}
spec: {{imageRepositoryRef: {{name: web}}, policy: {{semver: {{range: "~1.0"}}}}}}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {{name: web-future, namespace: apps, labels: {{auto: "yes"}}}}
spec: {{imageRepositoryRef: {{name: web}}, policy: {{semver: {{range: ">=9.0.0"}}}}}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {{name: web, namespace: apps}}
spec:
  interval: 5m
  sourceRef: {{kind: GitRepository, name: gitops}}
  policySelector: {{matchLabels: {{auto: "yes"}}}}
  git:
    commit: {{author: {{email: bot@example.com, name: bot}}}}
  update: {{path: ./deploy, strategy: Setters}}
"""

DEPLOY = """\
web: ghcr.io/x/web:0.1.0 # {"$imagepolicy": "apps:web"}
pinned: ghcr.io/x/web:0.1.0 # {"$imagepolicy": "apps:web-pinned"}
"""


def test_folder_run_applies_selected_policies(
    oci_registry_anonymous: OciRegistry,
    git_server: GitServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = oci_registry_anonymous.host
    for tag in ("1.0.0", "1.0.3", "1.2.0"):
        oci_registry_anonymous.push_image("folder/web", tag)
    url = git_server.create_repo("images-folder", {"deploy/app.yaml": DEPLOY})
    (tmp_path / "objects.yaml").write_text(MANIFESTS.format(url=url, host=host))
    monkeypatch.setenv("FLUX_GIT_USERNAME", git_server.username)
    monkeypatch.setenv("FLUX_GIT_PASSWORD", git_server.password)

    assert main(["image-automation", str(tmp_path), "--push"]) == 1  # web-future finds no tag
    out = capsys.readouterr().out
    assert f"✔ ImagePolicy apps:web chooses {host}/folder/web:1.2.0" in out
    assert f"✔ ImagePolicy apps:web-pinned chooses {host}/folder/web:1.0.3" in out
    assert "✔ ImageUpdateAutomation/apps/web: pushed" in out
    assert "✗ ImagePolicy/apps/web-future" in out and "'>=9.0.0'" in out
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", git_server.auth_url("images-folder"), str(clone)], check=True)
    # web-pinned is not selected by the automation's policySelector: its marker stays
    assert (clone / "deploy/app.yaml").read_text() == DEPLOY.replace(
        "web: ghcr.io/x/web:0.1.0", f"web: {host}/folder/web:1.2.0"
    )


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        (None, {}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {}, True),
    ],
)
def test_label_selectors(selector: dict[str, object] | None, labels: dict[str, str], expected: bool) -> None:
    parsed = LabelSelector.model_validate(selector) if selector is not None else None
    assert selector_matches(parsed, labels) is expected
