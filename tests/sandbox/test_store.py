"""Store and selector behaviour that needs no server: event-log compaction and selector parsing."""

from __future__ import annotations

import pytest

from flux_devkit.sandbox.selectors import field_selector, label_selector
from flux_devkit.sandbox.status import ApiError
from flux_devkit.sandbox.store import Store


def test_watch_from_a_compacted_version_is_410_gone() -> None:
    store = Store(log_size=2)
    for i in range(4):
        store.put("", "configmaps", {"metadata": {"name": f"c{i}", "namespace": "d"}}, "ADDED")
    assert [e.rv for e in store.events_after(2)] == [3, 4]
    with pytest.raises(ApiError) as info:
        store.events_after(1)
    assert info.value.code == 410 and info.value.reason == "Expired"


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web,tier!=db", {"app": "web", "tier": "db"}, False),
        ("app in (web, api)", {"app": "api"}, True),
        ("app notin (web)", {}, True),
        ("!legacy", {"legacy": "1"}, False),
        ("team", {"team": "a"}, True),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert label_selector(selector)({"metadata": {"labels": labels}}) is expected


def test_bad_label_selector_is_400() -> None:
    with pytest.raises(ApiError) as info:
        label_selector("app=(web")
    assert info.value.code == 400


def test_field_selector_reads_nested_fields() -> None:
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Running"}}
    assert field_selector("status.phase=Running,metadata.name!=q")(pod)
    assert not field_selector("status.phase!=Running")(pod)
