"""The git_server fixture speaks real smart HTTP: the git CLI clones and pushes through it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from airflow_flux_provider.tools import git_path
from flux_devkit.services.git_http import GitServer
from flux_devkit.services.process import ServiceError

NO_PROMPT = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
IDENT = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]


def _git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [git_path(), *args], cwd=cwd, env=NO_PROMPT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 or not check, done.stderr
    return done


def test_clone_push_and_clone_again(git_server: GitServer, tmp_path: Path) -> None:
    url = git_server.create_repo("svc-fleet", {"apps/podinfo.yaml": "replicas: 1\n", "bin/blob": b"\x00\x01"})
    assert url == f"{git_server.url}/svc-fleet.git"
    assert (git_server.repo_path("svc-fleet") / "HEAD").read_text().strip() == "ref: refs/heads/main"

    a, b = tmp_path / "a", tmp_path / "b"
    _git("clone", "--quiet", "--branch", "main", git_server.auth_url("svc-fleet"), str(a))
    assert (a / "apps" / "podinfo.yaml").read_text() == "replicas: 1\n"
    assert (a / "bin" / "blob").read_bytes() == b"\x00\x01"

    # Larger than git's 1 MiB http.postBuffer, so the push body arrives chunked.
    (a / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    (a / "apps" / "podinfo.yaml").write_text("replicas: 3\n")
    _git("add", "big.bin", "apps/podinfo.yaml", cwd=a)
    _git(*IDENT, "commit", "--quiet", "-m", "scale podinfo", cwd=a)
    pushed = _git("rev-parse", "HEAD", cwd=a).stdout.strip()
    _git("push", "--quiet", "origin", "main", cwd=a)

    _git("clone", "--quiet", "--depth=1", "--branch", "main", git_server.auth_url("svc-fleet"), str(b))
    assert _git("rev-parse", "HEAD", cwd=b).stdout.strip() == pushed
    assert (b / "apps" / "podinfo.yaml").read_text() == "replicas: 3\n"
    assert (b / "big.bin").stat().st_size == 3 * 1024 * 1024


def test_commit_helper_moves_branch_and_is_visible_over_http(git_server: GitServer, tmp_path: Path) -> None:
    git_server.create_repo("svc-moving", {"a.txt": "1", "old.txt": "gone soon"})
    sha = git_server.commit("svc-moving", {"a.txt": "2"}, message="bump", delete=["old.txt"])
    refs = _git("ls-remote", git_server.auth_url("svc-moving"), "refs/heads/main").stdout
    assert refs.split()[0] == sha

    release = git_server.commit("svc-moving", {"a.txt": "3"}, message="release branch", branch="release")
    m = tmp_path / "m"
    _git("clone", "--quiet", "--branch", "main", git_server.auth_url("svc-moving"), str(m))
    assert sorted(p.name for p in m.iterdir() if p.name != ".git") == ["a.txt"]
    assert (m / "a.txt").read_text() == "2"
    assert _git("log", "-1", "--format=%s", cwd=m).stdout.strip() == "bump"
    assert _git("ls-remote", "origin", "refs/heads/release", cwd=m).stdout.split()[0] == release
    _git("fetch", "--quiet", "origin", "release", cwd=m)
    assert _git("rev-parse", "FETCH_HEAD^", cwd=m).stdout.strip() == sha  # a new branch starts from main


def test_wrong_password_and_no_credentials_are_rejected(git_server: GitServer, tmp_path: Path) -> None:
    url = git_server.create_repo("svc-private", {"x": "y"})
    bad = url.replace("http://", f"http://{git_server.username}:wrong@")
    for target in (bad, url):
        result = _git("ls-remote", target, check=False)
        assert result.returncode != 0
        assert "Authentication failed" in result.stderr or "could not read Username" in result.stderr
    assert _git("clone", bad, str(tmp_path / "c"), check=False).returncode != 0


def test_creating_an_existing_repo_or_a_bad_name_is_a_clear_error(git_server: GitServer) -> None:
    git_server.create_repo("svc-twice")
    with pytest.raises(ServiceError, match="already exists"):
        git_server.create_repo("svc-twice")
    for bad in ("../escape", "a b", "/abs", ""):
        with pytest.raises(ServiceError, match="is not a plain path"):
            git_server.create_repo(bad)
    for outside in ("/tmp/planted", "../planted", "apps/../../planted"):
        with pytest.raises(ServiceError, match="must be relative and stay inside the tree"):
            git_server.commit("svc-twice", {outside: "x"})
    with pytest.raises(ServiceError, match="git rm failed"):
        git_server.commit("svc-twice", {"a": "b"}, delete=["/etc/hostname"])


def test_nested_repo_names_work_like_forge_paths(git_server: GitServer, tmp_path: Path) -> None:
    files = {"clusters/prod/kustomization.yaml": "resources: []\n"}
    url = git_server.create_repo("svc-team/fleet-infra", files, public=True)
    assert url.endswith("/svc-team/fleet-infra.git")
    _git("clone", "--quiet", url, str(tmp_path / "nested"))  # public: no credentials needed
    assert (tmp_path / "nested" / "clusters" / "prod" / "kustomization.yaml").is_file()


def test_public_repo_clones_anonymously_push_needs_auth(git_server: GitServer, tmp_path: Path) -> None:
    url = git_server.create_repo("svc-public", {"README.md": "public\n"}, public=True)
    pub = tmp_path / "pub"
    _git("clone", "--quiet", url, str(pub))
    assert (pub / "README.md").read_text() == "public\n"

    (pub / "README.md").write_text("defaced\n")
    _git(*IDENT, "commit", "--quiet", "-am", "anonymous change", cwd=pub)
    refused = _git("push", "origin", "main", cwd=pub, check=False)
    assert refused.returncode != 0
    assert "Authentication failed" in refused.stderr or "could not read Username" in refused.stderr
    # The private repos of the same server stay closed.
    git_server.create_repo("svc-still-private", {"a": "b"})
    assert _git(
        "clone", git_server.repo_url("svc-still-private"), str(tmp_path / "priv"), check=False
    ).returncode
