"""Values from a spec reach helm as names and flag values, never as options (issue 16 finding 1).

Positional values (release, chart, revision) follow ``--``; spec values given to a flag are
written ``--flag=value``. A HelmRelease whose releaseName or namespace looks like a flag is
refused when the spec is read, before helm runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider.helm.chart import pull_chart
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.errors import ChartError, HelmCommandError
from airflow_flux_provider.specs import SpecError
from flux_devkit.services.chart_repo import ChartRepository
from tests.helm.conftest import helm_release


def test_a_release_name_like_a_flag_is_a_name_to_helm(cli: HelmCli, chart_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    with pytest.raises(HelmCommandError, match="invalid release name"):
        cli.run(["template"], operands=[f"--output-dir={out}", str(chart_dir)], timeout=60, cluster=False)
    assert not out.exists()
    rendered = cli.run(
        ["template", "--set=message=dashes"], operands=["web", str(chart_dir)], timeout=60, cluster=False
    )
    assert "name: web-config" in rendered and 'message: "dashes"' in rendered


def test_chart_names_and_versions_like_flags_are_data(
    cli: HelmCli, chart_repo: ChartRepository, tmp_path: Path
) -> None:
    chart_repo.add_chart("operands-web", "1.0.0")
    dest = tmp_path / "pulled"
    with pytest.raises(ChartError, match=r"chart --untar@\* not found"):
        pull_chart(cli, chart_repo.url, "--untar", "*", dest, obj="HelmRelease/apps/web")
    with pytest.raises(ChartError, match="not found"):
        pull_chart(cli, chart_repo.url, "operands-web", "--devel", dest, obj="HelmRelease/apps/web")
    assert [p.name for p in dest.iterdir()] == []
    pulled = pull_chart(cli, chart_repo.url, "operands-web", "1.x", dest, obj="HelmRelease/apps/web")
    assert pulled.version == "1.0.0"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"releaseName": "--post-renderer=/tmp/run-me"}, "spec.releaseName"),
        ({"releaseName": "-x"}, "spec.releaseName"),
        ({"releaseName": "Web"}, "spec.releaseName"),
        ({"targetNamespace": "--kubeconfig=/tmp/other"}, "spec.targetNamespace"),
        ({"storageNamespace": "-n"}, "spec.storageNamespace"),
    ],
)
def test_flag_like_names_are_refused_in_the_spec(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        helm_release("apps", spec)
    assert info.value.field == field and "is not a valid Kubernetes" in info.value.message
