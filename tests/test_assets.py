"""One Asset per Flux object, ``flux://<namespace>/<Kind>/<name>``, and only for Kubernetes names."""

from __future__ import annotations

import pytest

from airflow_flux_provider.assets import AssetNameError, flux_asset, flux_asset_uri

BAD_PARTS = [
    ("GitRepository", "flux-system", "a?b#c", "name"),  # Airflow would cut the URI at '?'
    ("GitRepository", "flux-system", "../other", "name"),
    ("GitRepository", "flux-system", "", "name"),
    ("GitRepository", "flux-system", "x" * 300, "name"),
    ("GitRepository", "Flux_System", "app", "namespace"),
    ("GitRepository", "a/b", "app", "namespace"),
    ("Git Repository", "flux-system", "app", "kind"),
    ("-GitRepository", "flux-system", "app", "kind"),
]


@pytest.mark.parametrize(("kind", "namespace", "name", "part"), BAD_PARTS)
def test_a_part_that_is_not_a_kubernetes_name_is_refused(
    kind: str, namespace: str, name: str, part: str
) -> None:
    with pytest.raises(AssetNameError, match=rf"is not a Kubernetes {part};") as raised:
        flux_asset_uri(kind, namespace, name)
    assert len(str(raised.value)) < 250


def test_the_asset_name_is_its_uri_so_a_hand_written_asset_is_the_same() -> None:
    from airflow.sdk import Asset

    asset = flux_asset("GitRepository", "flux-system", "ml-gitops")
    assert asset == Asset("flux://flux-system/GitRepository/ml-gitops")
    assert (
        flux_asset_uri("GitRepository", "apps", "*") == "flux://apps/GitRepository/*"
    )  # a Receiver's wildcard
