"""The plugin's receiver configuration survives a bad edit of the manifests folder."""

from __future__ import annotations

from airflow_flux_provider.plugins.receiver_app import ReceiverConfig
from airflow_flux_provider.receivers import ReceiverIndex, WebhookReceiver
from airflow_flux_provider.specs import load_manifests


def test_unparsable_folder_keeps_the_last_good_index() -> None:
    good = ReceiverIndex([WebhookReceiver("hook", "flux-system", "generic", "token")])
    calls = []

    def load() -> ReceiverIndex:
        calls.append(1)
        if len(calls) == 1:
            return good
        return ReceiverIndex.from_manifests(load_manifests("kind: [unclosed"), {}.get)  # SpecError

    config = ReceiverConfig(load, refresh=0)
    assert config.index() is good
    assert config.index() is good
    assert len(calls) == 2
