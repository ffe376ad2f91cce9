"""The chart_repo fixtures serve charts indexed by the real helm; helm itself can use them."""

from __future__ import annotations

from pathlib import Path

import requests
import yaml

from flux_devkit.services.chart_repo import ChartRepository


def test_helm_adds_searches_and_renders_the_repository(chart_repo: ChartRepository) -> None:
    chart_repo.add_chart("svc-podinfo", "6.5.0", app_version="6.5.0")
    packaged = chart_repo.add_chart("svc-podinfo", "6.5.1", values={"message": "from 6.5.1"})
    assert packaged.is_file()

    index = yaml.safe_load(requests.get(f"{chart_repo.url}/index.yaml", timeout=10).text)
    entries = index["entries"]["svc-podinfo"]
    assert sorted(e["version"] for e in entries) == ["6.5.0", "6.5.1"]
    assert all(e["urls"][0].startswith(chart_repo.url) for e in entries)

    assert chart_repo.run_helm("repo", "add", "svc-local", chart_repo.url).returncode == 0
    search = chart_repo.run_helm("search", "repo", "svc-local/svc-podinfo", "--versions", "-o", "yaml")
    assert sorted(r["version"] for r in yaml.safe_load(search.stdout)) == ["6.5.0", "6.5.1"]
    rendered = chart_repo.run_helm("template", "demo", "svc-local/svc-podinfo", "--version", "6.5.1")
    assert rendered.returncode == 0, rendered.stderr
    (config_map,) = list(yaml.safe_load_all(rendered.stdout))
    assert config_map["metadata"]["name"] == "demo-svc-podinfo"
    assert config_map["data"] == {"chartVersion": "6.5.1", "message": "from 6.5.1"}


def test_auth_repository_needs_the_password(chart_repo_auth: ChartRepository, tmp_path: Path) -> None:
    chart_repo_auth.add_chart("svc-private", "0.1.0", templates={"cm.yaml": "kind: ConfigMap\n"})
    assert requests.get(f"{chart_repo_auth.url}/index.yaml", timeout=10).status_code == 401
    repo, url = chart_repo_auth, chart_repo_auth.url
    denied = repo.run_helm("repo", "add", "svc-priv-bad", url, "--username", "flux", "--password", "wrong")
    assert denied.returncode != 0 and "401" in denied.stderr
    login = ["--username", repo.username or "", "--password-stdin"]
    added = repo.run_helm("repo", "add", "svc-priv", url, *login, stdin=repo.password)
    assert added.returncode == 0, added.stderr
    pulled = repo.run_helm("pull", "svc-priv/svc-private", "--version", "0.1.0", "-d", str(tmp_path))
    assert pulled.returncode == 0, pulled.stderr
    served = chart_repo_auth.root / "svc-private-0.1.0.tgz"
    assert (tmp_path / "svc-private-0.1.0.tgz").read_bytes() == served.read_bytes()
