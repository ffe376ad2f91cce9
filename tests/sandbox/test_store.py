"""Store and selector behaviour that needs no server: event-log compaction and selector parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from flux_devkit.sandbox.network.addresses import AddressPool
from flux_devkit.sandbox.selectors import field_selector, label_selector
from flux_devkit.sandbox.status import ApiError, SandboxError
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


def _pod(name: str, owner: str = "", ip: str = "") -> dict:
    meta: dict = {"name": name, "namespace": "d", "uid": f"uid-{name}"}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "kind": "ReplicaSet", "name": owner}]
    return {"metadata": meta, **({"status": {"podIP": ip}} if ip else {})}


def test_indexes_follow_every_write_and_removal() -> None:
    """Owners, uids and addresses are looked up without reading every object, and stay right
    as objects are replaced and removed."""
    store = Store()
    store.put("", "pods", _pod("a", owner="rs-1", ip="10.0.0.1"), "ADDED")
    store.put("", "pods", _pod("b", owner="rs-1"), "ADDED")
    store.put("", "configmaps", {"metadata": {"name": "c", "namespace": "d", "uid": "uid-c"}}, "ADDED")
    assert [obj["metadata"]["name"] for _, obj in store.indexed("owner", "rs-1")] == ["a", "b"]
    assert store.holds_address("10.0.0.1") and not store.holds_address("10.0.0.2")
    store.put("", "pods", _pod("a", owner="rs-2", ip="10.0.0.2"), "MODIFIED")
    assert [obj["metadata"]["name"] for _, obj in store.indexed("owner", "rs-1")] == ["b"]
    assert [type_key for type_key, _ in store.indexed("owner", "rs-2")] == [("", "pods")]
    assert not store.holds_address("10.0.0.1") and store.holds_address("10.0.0.2")
    store.remove("", "pods", "d", "a")
    assert store.indexed("owner", "rs-2") == [] and not store.holds_address("10.0.0.2")
    assert [type_key for type_key, _ in store.indexed("uid", "uid-c")] == [("", "configmaps")]


def test_saved_state_is_indexed_when_loaded(tmp_path: Path) -> None:
    store = Store()
    store.put("", "pods", _pod("a", owner="rs-1", ip="10.0.0.1"), "ADDED")
    store.save(tmp_path / "state.json")
    loaded = Store()
    list(loaded.load(tmp_path / "state.json"))
    assert [obj["metadata"]["name"] for _, obj in loaded.indexed("owner", "rs-1")] == ["a"]
    assert loaded.holds_address("10.0.0.1")


def test_addresses_are_handed_out_in_turn_skipping_held_and_reserved_ones() -> None:
    pool = AddressPool("10.0.0.0/29")  # six hosts: .1 to .6
    held = {"10.0.0.3"}
    given = [pool.allocate(held.__contains__) for _ in range(5)]
    assert sorted(given) == ["10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    with pytest.raises(SandboxError, match=r"no free address left in 10\.0\.0\.0/29"):
        pool.allocate(held.__contains__)
    pool.release(given[2])
    assert pool.allocate(held.__contains__) == given[2]
