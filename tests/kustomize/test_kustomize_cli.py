"""kubectl kustomize takes the folder after ``--``: a folder named like a flag is still a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_flux_provider.kustomize.kustomize_cli import kustomize_build

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: built\n"


@pytest.mark.parametrize("name", ["--help", "-o=yaml", "--load-restrictor=LoadRestrictionsRootOnly"])
def test_a_folder_named_like_a_flag_is_built(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
    (folder / "cm.yaml").write_text(CONFIG_MAP)
    monkeypatch.chdir(tmp_path)
    built = kustomize_build(Path(name), shown_as=Path(name), mirror=tmp_path, obj="Kustomization/apps/web")
    assert built == CONFIG_MAP
