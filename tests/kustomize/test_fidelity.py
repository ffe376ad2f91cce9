"""Every corpus overlay renders exactly as kustomize builds its hand-written Flux-equivalent twin."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airflow_flux_provider.kustomize import RenderStore, render
from tests.kustomize.conftest import bare_kustomize, kustomization, write_tree
from tests.kustomize.corpus import CASES, Case


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_render_matches_kustomize(case: Case, tmp_path: Path, store: RenderStore) -> None:
    source = write_tree(tmp_path / "source", case.files)
    twin = write_tree(tmp_path / "twin", {**case.files, **case.expected})
    with (twin / case.path / "kustomization.yaml").open("a") as twin_file:
        twin_file.write("sortOptions: {order: fifo}\n")  # Flux keeps kustomize's input order
    expected = bare_kustomize(twin / case.path)

    rendered = render(kustomization(case.path, **case.spec), source, store=store, airflow_vars=case.vars)
    got = rendered.read()

    if case.semantic:
        assert list(yaml.safe_load_all(got)) == list(yaml.safe_load_all(expected))
    else:
        assert got == expected
    assert rendered.objects == len([d for d in yaml.safe_load_all(expected) if d])
    assert (source / case.path / "kustomization.yaml").exists() == ("app/kustomization.yaml" in case.files)
